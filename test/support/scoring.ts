/**
 * Waiting for the automatic scores: the lead scorer and the re-scoring jobs write in the
 * background, so a test that reads scores, or counts the log's events around a call, first lets
 * them finish what the log asks of them (and the read models take it in).
 */
import type { Application } from '../../src/composition/application';

export const scoresSettled = async (app: Application, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  const within = <T>(work: Promise<T>, what: string): Promise<T> =>
    Promise.race([
      work,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`Scores not settled within ${timeoutMs} ms: ${what}`)), Math.max(0, deadline - Date.now())).unref(),
      ),
    ]);
  for (;;) {
    await within(app.scoringJobs.whenIdle(), 'a re-scoring job still running');
    const head = await app.store.headPosition();
    const scorer = app.leadScorer();
    // A paused scorer has nothing in hand: what it has not done yet it does once started again.
    if (scorer?.running) await within(scorer.whenProcessed(head), 'the lead scorer behind the log');
    if (head !== undefined) await app.readModels.waitForPosition(head, Math.max(1, deadline - Date.now()));
    // Nothing written meanwhile (a score, a job's): everything the log asked for is in.
    if ((await app.store.headPosition()) === head) return;
  }
};
