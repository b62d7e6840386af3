// Writes common/records.schema.json: the records of common/records.ts as JSON Schema, for workers in other
// languages. tests/unit/records.test.ts fails when the checked-in file is not what this writes.
import { build } from 'esbuild';
import { writeFile } from 'node:fs/promises';
import { format } from 'prettier';

const bundle = await build({
  stdin: {
    contents: "export { recordsJsonSchema } from './common/records';",
    resolveDir: process.cwd(),
    loader: 'ts',
  },
  bundle: true, // zod included: a data: URL module cannot resolve packages
  platform: 'node',
  format: 'esm',
  write: false,
  logLevel: 'warning',
});
const url = `data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`;
const { recordsJsonSchema } = await import(url);
const target = 'common/records.schema.json';
await writeFile(target, await format(JSON.stringify(recordsJsonSchema()), { parser: 'json', printWidth: 120 }));
console.log(`wrote ${target}`);
