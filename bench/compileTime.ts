/**
 * `npm run bench:compile`: what compiling an operation costs the main thread
 * (src/graphql/compiledExecution.ts, `COMPILED_SOURCE_LIMIT`), beside validating it, which every
 * new document costs already. For every KPI section (what a dashboard asks) and for 25 aliases of
 * it (about 3,000 tokens: GraphQL Armor allows 5,000), in this process, five times each.
 */
import 'reflect-metadata';
import { parse, validate } from 'graphql';
import { compileQuery } from 'graphql-jit';
import { buildCrmSchema } from '../src/graphql/schema';
import { KPI_SELECTION } from '../test/support/kpiSelection';

const ROUNDS = 5;

const main = async () => {
  const schema = await buildCrmSchema();
  const documents = {
    'every KPI section': `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to, groupBy: SOURCE) { ${KPI_SELECTION} } }`,
    '25 aliases of every KPI section': `query($from: DateTime!, $to: DateTime!) { ${Array.from({ length: 25 }, (_, i) => `a${i}: kpis(from: $from, to: $to) { ${KPI_SELECTION} }`).join(' ')} }`,
  };
  for (const [name, text] of Object.entries(documents)) {
    const document = parse(text);
    const timed = (run: () => unknown) =>
      Array.from({ length: ROUNDS }, () => {
        const started = performance.now();
        run();
        return (performance.now() - started).toFixed(1);
      }).join(', ');
    const validating = timed(() => validate(schema, document));
    const compiling = timed(() => compileQuery(schema, document));
    console.log(`${name} (${text.length} characters): validate ${validating} ms; compile ${compiling} ms`);
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
