#!/usr/bin/env python3
"""The CURL update in PyTorch, structured as the authors' curl_sac.py does it, timed
the way `npm run bench -- update` times ours: median ms per update after warm-up, on
84x84x9 crops with a 6-d action and random data. Prints one JSON line per (aux, batch).

    python3 experiments/bench/pytorch_update.py --batch-size 128,512 --aux both --threads 2

Written from the paper's description and the reference's published update order
(critic; actor + temperature every 2; target EMA every 2; CURL), so that the Node
benchmark has a same-machine baseline. Needs only torch (Debian: python3-torch, or
`pip install torch`).

Layouts: --nchw is the authors' code as written; the default channels_last is PyTorch's
fastest fp32 CPU layout for these convs. --autocast bf16 runs the forward passes under
torch.autocast('cpu', bfloat16) (convs and linears in bf16, losses and LayerNorm in fp32,
fp32 master weights: PyTorch's mixed precision on CPU).
"""
import contextlib
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZE, CHANNELS, ACTION_DIM = 84, 9, 6
LATENT, HIDDEN, FILTERS, LAYERS = 50, 1024, 32, 4
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(CHANNELS, FILTERS, 3, stride=2)] + [nn.Conv2d(FILTERS, FILTERS, 3, stride=1) for _ in range(LAYERS - 1)])
        side = (SIZE - 3) // 2 + 1 - 2 * (LAYERS - 1)
        self.fc = nn.Linear(FILTERS * side * side, LATENT)
        self.ln = nn.LayerNorm(LATENT)

    def forward(self, obs, detach=False):
        h = obs / 255.0
        for conv in self.convs:
            h = torch.relu(conv(h))
        h = h.reshape(h.size(0), -1)
        if detach:
            h = h.detach()
        return self.ln(self.fc(h))


def mlp(inp, out):
    return nn.Sequential(nn.Linear(inp, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, out))


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.trunk = mlp(LATENT, 2 * ACTION_DIM)

    def forward(self, obs, detach=False):
        mu, log_std = self.trunk(self.encoder(obs, detach)).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        noise = torch.randn_like(mu)
        pi = mu + noise * log_std.exp()
        log_pi = (-0.5 * noise.pow(2) - log_std).sum(-1, keepdim=True) - 0.5 * torch.log(torch.tensor(2 * torch.pi)) * ACTION_DIM
        mu, pi = torch.tanh(mu), torch.tanh(pi)
        log_pi = log_pi - torch.log(F.relu(1 - pi.pow(2)) + 1e-6).sum(-1, keepdim=True)
        return mu, pi, log_pi, log_std


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.q1 = mlp(LATENT + ACTION_DIM, 1)
        self.q2 = mlp(LATENT + ACTION_DIM, 1)

    def forward(self, obs, action, detach=False):
        z = torch.cat([self.encoder(obs, detach), action], dim=1)
        return self.q1(z), self.q2(z)


class Agent:
    def __init__(self, aux, channels_last, autocast):
        self.aux = aux
        self.autocast = autocast
        self.actor, self.critic, self.critic_target = Actor(), Critic(), Critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        for a, c in zip(self.actor.encoder.convs, self.critic.encoder.convs):  # tied convs, as the reference does
            a.weight, a.bias = c.weight, c.bias
        if channels_last:
            for m in (self.actor, self.critic, self.critic_target):
                m.to(memory_format=torch.channels_last)
        self.log_alpha = torch.tensor(0.1).log().requires_grad_()
        self.W = nn.Parameter(torch.rand(LATENT, LATENT))
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=1e-3, betas=(0.9, 0.999))
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=1e-3, betas=(0.9, 0.999))
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=1e-4, betas=(0.5, 0.999))
        self.encoder_opt = torch.optim.Adam(self.critic.encoder.parameters(), lr=1e-3)
        self.cpc_opt = torch.optim.Adam(list(self.critic.encoder.parameters()) + [self.W], lr=1e-3)

    def forward_context(self):
        """Forward passes in bf16 under autocast; backward runs outside it, as PyTorch recommends."""
        return torch.autocast('cpu', dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def update(self, obs, action, reward, next_obs, not_done, pos, step):
        with torch.no_grad(), self.forward_context():
            _, pi, log_pi, _ = self.actor(next_obs)
            tq1, tq2 = self.critic_target(next_obs, pi)
            target = reward + not_done * 0.99 * (torch.min(tq1, tq2).float() - self.log_alpha.exp() * log_pi.float())
        with self.forward_context():
            q1, q2 = self.critic(obs, action)
            critic_loss = F.mse_loss(q1.float(), target) + F.mse_loss(q2.float(), target)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        if step % 2 == 0:
            with self.forward_context():
                _, pi, log_pi, log_std = self.actor(obs, detach=True)
                aq1, aq2 = self.critic(obs, pi, detach=True)
                log_pi = log_pi.float()
                actor_loss = (self.log_alpha.exp().detach() * log_pi - torch.min(aq1, aq2).float()).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            alpha_loss = (self.log_alpha.exp() * (-log_pi - (-ACTION_DIM)).detach()).mean()
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()
            with torch.no_grad():
                for p, tp in zip(self.critic.q1.parameters(), self.critic_target.q1.parameters()):
                    tp.mul_(0.99).add_(0.01 * p)
                for p, tp in zip(self.critic.q2.parameters(), self.critic_target.q2.parameters()):
                    tp.mul_(0.99).add_(0.01 * p)
                for p, tp in zip(self.critic.encoder.parameters(), self.critic_target.encoder.parameters()):
                    tp.mul_(0.95).add_(0.05 * p)
        if self.aux == 'curl':
            with self.forward_context():
                z_a = self.critic.encoder(obs).float()
                with torch.no_grad():
                    z_pos = self.critic_target.encoder(pos).float()
            logits = z_a @ (self.W @ z_pos.T)
            logits = logits - logits.max(1, keepdim=True)[0]
            loss = F.cross_entropy(logits, torch.arange(logits.size(0)))
            self.encoder_opt.zero_grad()
            self.cpc_opt.zero_grad()
            loss.backward()
            self.encoder_opt.step()
            self.cpc_opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch-size', default='128')
    ap.add_argument('--aux', default='both', choices=['curl', 'none', 'both'])
    ap.add_argument('--threads', type=int, default=torch.get_num_threads())
    ap.add_argument('--iters', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--nchw', action='store_true', help='plain NCHW (the authors\' code) instead of channels_last')
    ap.add_argument('--autocast', choices=['none', 'bf16'], default='none', help='forward passes under torch.autocast(cpu, bfloat16)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    channels_last = not args.nchw
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for aux in (['curl', 'none'] if args.aux == 'both' else [args.aux]):
        for b in [int(x) for x in args.batch_size.split(',')]:
            agent = Agent(aux, channels_last, args.autocast == 'bf16')
            img = lambda: torch.randint(0, 256, (b, CHANNELS, SIZE, SIZE), dtype=torch.uint8).float().contiguous(memory_format=fmt)
            obs, next_obs, pos = img(), img(), img()
            action = torch.rand(b, ACTION_DIM) * 2 - 1
            reward, not_done = torch.rand(b, 1), torch.ones(b, 1)
            times = []
            for i in range(args.warmup + args.iters):
                t0 = time.perf_counter()
                agent.update(obs, action, reward, next_obs, not_done, pos, i)
                if i >= args.warmup:
                    times.append((time.perf_counter() - t0) * 1000)
            print(json.dumps({
                'bench': 'update-pytorch', 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'channelsLast': channels_last, 'autocast': args.autocast,
                'aux': aux, 'batchSize': b, 'iters': args.iters,
                'medianMs': round(statistics.median(times), 1), 'minMs': round(min(times), 1),
            }), flush=True)


if __name__ == '__main__':
    main()
