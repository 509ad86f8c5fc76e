import { describe, expect, it } from 'vitest';
import { heapGrowthFlag } from './heapGrowth';

describe('the heap growth the API sets at start', () => {
  it('is twice the live heap when node was given none', () => {
    expect(heapGrowthFlag([])).toBe('--heap-growing-percent=100');
    expect(heapGrowthFlag(['--enable-source-maps', '--max-old-space-size=512'])).toBe('--heap-growing-percent=100');
  });

  it("leaves the operator's own setting alone, however it is spelled", () => {
    expect(heapGrowthFlag(['--heap-growing-percent=300'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap-growing-percent', '300'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap_growing_percent=300'])).toBeUndefined();
  });
});
