/**
 * `npm run bench:bundle` (and part of `npm run bench`): how many bytes
 * `connect()` costs a page, gzipped, with what is rxjs-ws's own and what rxjs's.
 */
import { bundleConnect, splitBytes } from './bundle';

/** The report, in Markdown. */
export async function bundleSizeReport(): Promise<string> {
  const bundle = await bundleConnect();
  const { own, dependencies } = splitBytes(bundle);
  return [
    '## Browser bundle',
    '',
    '`import { connect } from \'rxjs-ws\'` alone, bundled for a page (esbuild, minified, rxjs included):',
    '',
    '| gzip -9 | minified | rxjs-ws\'s own code | rxjs |',
    '|---:|---:|---:|---:|',
    `| ${bundle.gzip} B | ${bundle.minified} B | ${own} B | ${dependencies} B |`,
  ].join('\n');
}

if (require.main === module) {
  bundleSizeReport().then(
    (report) => process.stdout.write(`${report}\n`),
    (err: unknown) => {
      process.stderr.write(`bundle-size failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
