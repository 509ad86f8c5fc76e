/**
 * Named places where a test can make the process die abruptly, to prove that what is written
 * stays consistent whatever step a crash interrupts. Off unless CRM_FAILPOINTS names them
 * (comma-separated); a production deployment never sets it.
 */
const armed = new Set(
  (process.env.CRM_FAILPOINTS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean),
);

export const failpoint = (name: string): void => {
  if (armed.has(name)) {
    console.error(`failpoint ${name}: killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }
};
