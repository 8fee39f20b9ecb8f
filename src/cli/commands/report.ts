import { Option, type Command } from 'commander';
import { buildReport } from '../../../experiments/report/report.js';
import { resultsTable } from '../../../experiments/report/markdown.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('learning curves (mean and band over seeds, curl vs none per task) and a results table next to the CURL paper')
    .argument('<runs-dir>', 'folder searched recursively for run directories (config.json + metrics.jsonl)')
    .option('--out <dir>', 'output folder for curves.svg, curves.png, report.md, summary.json and tb/ (TensorBoard event files)', 'report')
    .addOption(new Option('--band <kind>', 'shaded band: std or ci95 (95% Student-t interval of the mean)').choices(['std', 'ci95']).default('std'))
    .addOption(
      new Option('--align <how>', 'eval steps across seeds: common (steps all seeds share) or interpolate').choices(['common', 'interpolate']).default('common'),
    )
    .option('--title <text>', 'plot title')
    .action(async (runsDir: string, opts: { out: string; band: 'std' | 'ci95'; align: 'common' | 'interpolate'; title?: string }) => {
      const { summary, files } = await buildReport(runsDir, {
        out: opts.out,
        band: opts.band,
        alignment: opts.align,
        ...(opts.title !== undefined ? { title: opts.title } : {}),
      });
      console.log(resultsTable(summary.groups));
      for (const warning of summary.warnings) console.warn(`warning: ${warning}`);
      console.log(`\n${summary.runs.length} runs -> ${files.markdown}, ${files.png}, ${files.svg}, ${files.json}`);
      if (files.probePng !== undefined) console.log(`state probe against return: ${files.probePng}, ${files.probeSvg}`);
      console.log(`curves in TensorBoard: tensorboard --logdir ${files.tensorboard}`);
    });
}
