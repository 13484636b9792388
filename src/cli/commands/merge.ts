/**
 * `natinv merge`: joins the folders of a sharded run into one dataset folder; batch files are
 * copied byte for byte, so the result equals an unsharded run's.
 */
import * as fs from 'fs';
import * as path from 'path';
import { mergeDatasets } from '../../dataset/merge';
import { CommandSpec, Options, ParsedArgs, UsageError } from '../args';
import { CliIo, EXIT, plural, Reporter } from '../io';

export const MERGE: CommandSpec = {
  name: 'merge',
  summary: 'Merge the dataset folders of a sharded run (natinv synthesize --shard i/n) into one folder.',
  description: [
    'Every folder must hold the same run (configuration, planned batches, batch size, image shape); a batch held ' +
      'by several folders must be byte-identical. --out may be new, one of the shards, or an earlier merge.',
  ],
  positionals: [{ name: 'folders', help: 'Shard folders to merge.', required: true, variadic: true }],
  options: [
    { name: 'out', kind: 'string', value: 'DIR', help: 'The merged dataset folder (required).' },
    { name: 'images', kind: 'flag', negatable: true, help: "Copy only the batch files, not the batches' PNGs and grids." },
    { name: 'json', kind: 'flag', help: 'Print one JSON object with what was copied on stdout.' },
  ],
  examples: ['natinv merge shard-0 shard-1 shard-2 shard-3 --out dataset'],
};

/** Runs `natinv merge`; returns the exit code. */
export async function mergeCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const options = new Options(args.options);
  const reporter = new Reporter(io, options.flag('json'));
  const cwd = io.cwd ?? process.cwd();
  const command = 'natinv merge';
  const outText = options.string('out');
  if (outText === undefined) throw new UsageError(`${command}: --out DIR is required (the merged dataset folder).`);
  const sources = args.positionals.map((p) => path.resolve(cwd, p));
  for (const [i, folder] of sources.entries()) {
    if (!fs.existsSync(folder)) throw new UsageError(`${command}: the folder ${args.positionals[i]} does not exist.`);
    if (!fs.statSync(folder).isDirectory())
      throw new UsageError(`${command}: ${args.positionals[i]} is not a folder; give dataset folders.`);
  }
  const out = path.resolve(cwd, outText);
  const summary = await mergeDatasets(sources, out, { images: options.flag('images', true) });
  reporter.event('merged', { out, ...summary });
  reporter.result(
    `merged ${plural(sources.length, 'folder')} into ${out}: copied ${plural(summary.copied.length, 'batch', 'batches')}` +
      (summary.present.length > 0 ? `, ${summary.present.length} already there` : '') +
      (summary.duplicates.length > 0 ? `, ${summary.duplicates.length} held twice (identical)` : ''),
  );
  if (summary.missing.length > 0) {
    const shown = summary.missing.slice(0, 10).join(', ');
    reporter.note(
      `still missing ${plural(summary.missing.length, 'planned batch', 'planned batches')} (${shown}${summary.missing.length > 10 ? ', ...' : ''}); ` +
        'rerun the shards that own them, then merge again.',
    );
  }
  return EXIT.ok;
}
