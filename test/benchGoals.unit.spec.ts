/**
 * `npm run bench` ends with issue 11's goals, and with BENCH_ROUNDS it measures the servers in
 * several rounds: goals 1 and 2 must then be the median of each round's own ratio (two servers
 * measured minutes apart), not a ratio of rates measured a whole run apart.
 */
import { describe, expect, it } from 'vitest';
import { goalRows, type LoadRound } from '../bench/goals';
import type { EmmettResult } from '../bench/emmettPeer';
import type { LoadResult } from '../bench/harness';
import type { CaptureLeadResult } from '../bench/httpCaptureLead';

const load = (requestsPerSec: number, latencyP99Ms = 10): LoadResult =>
  ({ requestsPerSec, latencyP50Ms: 1, latencyP99Ms, totalResponses: requestsPerSec * 10, non2xx: 0, errorResponses: 0, socketErrors: 0 }) as LoadResult;
const ours = (store: string, requestsPerSec: number, latencyP99Ms = 10): CaptureLeadResult =>
  ({ ...load(requestsPerSec, latencyP99Ms), store, leadsCaptured: 0, successfulResponses: 0 }) as CaptureLeadResult;
const emmett = (requestsPerSec: number): EmmettResult =>
  ({ ...load(requestsPerSec), leadsInReadModel: 0, leadCapturedEvents: 0, successfulResponses: 0 }) as EmmettResult;
const measured = (rows: ReturnType<typeof goalRows>, goal: string) => rows.find((row) => row.goal.startsWith(goal))!;

describe('issue 11 goals over several rounds', () => {
  // The machine slows down over the run: every server's rate halves from one round to the next.
  const rounds: LoadRound[] = [
    { captureLead: ours('sqlite', 1000, 80), crud: load(2000), standalone: load(8000), captureLeadPostgres: ours('postgres', 900), emmett: emmett(450) },
    { captureLead: ours('sqlite', 500, 120), crud: load(1000), standalone: load(4000), captureLeadPostgres: ours('postgres', 450), emmett: emmett(300) },
    { captureLead: ours('sqlite', 250, 30), crud: load(500), standalone: load(2000), captureLeadPostgres: ours('postgres', 225), emmett: emmett(75) },
  ];

  it("takes the median of the rounds' own ratios and p99s", () => {
    // The medians by rate come from different rounds: ours from round 2, the CRUD peer's from round 1.
    const rows = goalRows({ captureLead: rounds[1]!.captureLead, crud: load(2000), standalone: load(2000), connections: 50, rounds });
    expect(measured(rows, '1. captureLead on SQLite / plain CRUD peer')).toMatchObject({ measured: '0.500', met: false });
    expect(measured(rows, '1. captureLead on SQLite / Apollo standalone')).toMatchObject({ measured: '0.125' });
    expect(measured(rows, '1. captureLead on SQLite, p99')).toMatchObject({ measured: '80 ms', met: false });
    // 2.0, 1.5 and 3.0: the median is 2.0.
    expect(measured(rows, '2. captureLead on PostgreSQL / Emmett peer')).toMatchObject({ measured: '2.000', met: true });
    expect(measured(rows, '2. captureLead on PostgreSQL / plain CRUD peer')).toMatchObject({ measured: '0.450', met: false });
  });

  it('leaves out a round that lacks one of the two servers, and says a goal was not measured when none had both', () => {
    const rows = goalRows({ connections: 50, rounds: [rounds[0]!, { captureLead: ours('sqlite', 10) }, rounds[2]!] });
    // Two rounds with both servers: 0.5 both times.
    expect(measured(rows, '1. captureLead on SQLite / plain CRUD peer').measured).toBe('0.500');
    // Of an even count, the mean of the two middle values: neither the better round nor the worse decides.
    const even = goalRows({ connections: 50, rounds: [rounds[0]!, { ...rounds[1]!, crud: load(250) }] });
    expect(measured(even, '1. captureLead on SQLite / plain CRUD peer')).toMatchObject({ measured: '1.250', met: false });
    const without = goalRows({ connections: 50, rounds: [{ captureLead: ours('sqlite', 10) }] });
    expect(measured(without, '1. captureLead on SQLite / plain CRUD peer').measured).toBe('not measured: run --only captureLead,crud');
    expect(measured(without, '1. captureLead on SQLite / plain CRUD peer').met).toBeUndefined();
  });

  it('measures one run as before when there were no rounds', () => {
    const rows = goalRows({ captureLead: ours('sqlite', 1000, 20), crud: load(400), connections: 50 });
    expect(measured(rows, '1. captureLead on SQLite / plain CRUD peer')).toMatchObject({ measured: '2.500', met: true });
    expect(measured(rows, '1. captureLead on SQLite, p99')).toMatchObject({ measured: '20 ms', met: true });
    // Ours on PostgreSQL is not ours on SQLite: no SQLite goal from it.
    expect(measured(goalRows({ captureLead: ours('postgres', 1000), crud: load(400), connections: 50 }), '1. captureLead on SQLite / plain CRUD peer').met).toBeUndefined();
  });
});
