/**
 * Prints a bearer token for local use:
 *   npm run token -- --sub alice --roles sales,sales_manager [--expires 12h] [--data-dir ./data]
 * The secret is resolved exactly as the server does, so the token is accepted by a server
 * started with the same CRM_JWT_SECRET or the same data directory.
 */
import { parseArgs } from 'node:util';
import { mintToken, resolveJwtSecret } from '../identity/jwt';

const USAGE = `usage: npm run token -- --sub <actor> [--roles a,b] [--expires 12h] [--data-dir ./data]

  --sub       the actor id recorded on every event (required)
  --roles     comma-separated roles (default: none)
  --expires   lifetime such as 30m, 12h, 7d (default: 12h)
  --data-dir  where jwt-secret lives when CRM_JWT_SECRET is unset
              (default: $CRM_DATA_DIR, else ./data)`;

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        sub: { type: 'string' },
        roles: { type: 'string', default: '' },
        expires: { type: 'string', default: '12h' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Resolves to what goes to stdout: the token, or the usage text when asked for it. */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const values = parse(argv);
  if (values.help) return USAGE;
  const sub = values.sub?.trim();
  if (!sub) throw new UsageError('--sub is required');
  const roles = values.roles
    .split(',')
    .map((role) => role.trim())
    .filter((role) => role !== '');

  const dataDir = values['data-dir'] ?? env.CRM_DATA_DIR ?? './data';
  const { secret, source } = resolveJwtSecret({ env, dataDir });
  if (source === 'generated') {
    process.stderr.write(`created a new JWT secret in ${dataDir}/jwt-secret\n`);
  }
  try {
    return await mintToken({ sub, roles, expiresIn: values.expires }, secret);
  } catch (error) {
    // jose rejects a lifetime it cannot parse with a TypeError
    if (error instanceof TypeError) throw new UsageError(`--expires: ${error.message}`);
    throw error;
  }
}

main(process.argv.slice(2), process.env).then(
  (token) => process.stdout.write(`${token}\n`),
  (error: unknown) => {
    if (error instanceof UsageError) {
      if (error.message) process.stderr.write(`error: ${error.message}\n\n`);
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`error: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
