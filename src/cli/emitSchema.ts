/** `npm run schema`: writes schema/schema.graphql from the code. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { printCrmSchema } from '../graphql/schema';

export const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schema', 'schema.graphql');

if (require.main === module) {
  void printCrmSchema().then((sdl) => {
    writeFileSync(SCHEMA_FILE, sdl);
    console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
  });
}
