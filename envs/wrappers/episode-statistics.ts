import type { Action, EnvSnapshot, Observation, ResetOptions, ResetResult, StepResult } from '../types.js';
import { Wrapper } from './wrapper.js';

export interface EpisodeSummary {
  return: number;
  length: number;
}

/** Adds `info.episode = {return, length}` to the step that ends an episode. */
export class EpisodeStatistics<O = Observation, A = Action> extends Wrapper<O, A> {
  private episodeReturn = 0;
  private episodeLength = 0;

  async reset(options?: ResetOptions): Promise<ResetResult<O>> {
    this.episodeReturn = 0;
    this.episodeLength = 0;
    return this.env.reset(options);
  }

  async step(action: A): Promise<StepResult<O>> {
    const r = await this.env.step(action);
    this.episodeReturn += r.reward;
    this.episodeLength++;
    if (!(r.terminated || r.truncated)) return r;
    const episode: EpisodeSummary = { return: this.episodeReturn, length: this.episodeLength };
    return { ...r, info: { ...r.info, episode } };
  }

  protected override ownState(): EnvSnapshot {
    return { return: this.episodeReturn, length: this.episodeLength };
  }
  protected override restoreOwnState(state: EnvSnapshot): void {
    this.episodeReturn = Number(state['return'] ?? 0);
    this.episodeLength = Number(state['length'] ?? 0);
  }
}
