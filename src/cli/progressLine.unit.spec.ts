import { describe, expect, it } from 'vitest';
import { ProgressLine } from './common';

/** What a terminal shows of what was written: a carriage return starts its line over. */
const screen = (written: string): string[] =>
  written.split('\n').map((line) => line.split('\r').reduce((shown, drawn) => drawn + shown.slice(drawn.length), ''));

describe('a progress line', () => {
  it('shows a note on a line of its own, and the progress again below it', () => {
    let written = '';
    const stream = { write: (text: string) => ((written += text), true) } as unknown as NodeJS.WriteStream;
    const progress = new ProgressLine(stream, 0);
    progress.update('replay: [####----] 20,000/40,000 events, 9,000 events/s');
    progress.note('replay: Staging kpi-facts on another thread failed');
    progress.update('replay: [######--] 30,000/40,000 events');
    progress.done('replay: rebuilt from 40,000 events');
    expect(screen(written).map((line) => line.trimEnd())).toEqual([
      'replay: Staging kpi-facts on another thread failed',
      'replay: rebuilt from 40,000 events',
      '',
    ]);
  });
});
