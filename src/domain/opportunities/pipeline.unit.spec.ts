import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPipeline } from '../../composition/configFiles';
import { fromUnits, sameMoney, toUnits, weightedAmount } from './money';
import { Pipeline, PipelineConfigError } from './pipeline';

const directory = mkdtempSync(path.join(os.tmpdir(), 'crm-pipeline-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const fileWith = (name: string, content: unknown) => {
  const file = path.join(directory, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};

describe('the pipeline', () => {
  it('ships a default whose first stage is qualification, in EUR', () => {
    const pipeline = loadPipeline();
    expect(pipeline.first()).toEqual({ code: 'QUALIFICATION', label: 'Qualification', order: 1, probability: 10 });
    expect(pipeline.codes()).toEqual(['QUALIFICATION', 'VISIT_PENDING', 'PREPARING_QUOTE', 'DECISION_PENDING', 'NEGOTIATION']);
    expect(pipeline.stage('DECISION_PENDING')?.probability).toBe(75);
    expect(pipeline.has('CLOSED')).toBe(false);
    expect(pipeline.reportingCurrency).toBe('EUR');
  });

  it('loads a company’s own stages, sorted by order or listed order, and its currency', () => {
    const pipeline = loadPipeline(
      fileWith('own.json', {
        currency: 'USD',
        stages: [
          { code: 'DEMO', label: 'Demo booked', probability: 30, order: 20 },
          { code: 'DISCOVERY', label: 'Discovery', probability: 5, order: 10 },
        ],
      }),
    );
    expect(pipeline.codes()).toEqual(['DISCOVERY', 'DEMO']);
    expect(pipeline.reportingCurrency).toBe('USD');

    const listed = loadPipeline(fileWith('listed.json', { stages: [{ code: 'B', label: 'b', probability: 1 }, { code: 'A', label: 'a', probability: 2 }] }));
    expect(listed.stages.map((s) => [s.code, s.order])).toEqual([['B', 1], ['A', 2]]);
  });

  it('refuses a malformed file with an error naming the file and every problem', () => {
    const file = fileWith('bad.json', {
      stages: [
        { code: 'visit', label: 'Visit', probability: 20 },
        { code: 'QUOTE', label: '', probability: 120 },
        { code: 'QUOTE', label: 'Quote', probability: 50 },
      ],
    });
    expect(() => loadPipeline(file)).toThrow(PipelineConfigError);
    expect(() => loadPipeline(file)).toThrow(/bad\.json.*stages\[0\]\.code.*stages\[1\]\.label.*stages\[1\]\.probability.*QUOTE appears twice/);
    expect(() => loadPipeline(fileWith('empty.json', { stages: [] }))).toThrow(/non-empty/);
    expect(() => loadPipeline(fileWith('shape.json', [{ code: 'A' }]))).toThrow(/expected \{ "stages"/);
    expect(() => loadPipeline(fileWith('syntax.json', '{ stages: '))).toThrow(/syntax\.json/);
    expect(() => loadPipeline(path.join(directory, 'missing.json'))).toThrow(/missing\.json/);
    expect(() => new Pipeline([{ code: 'A', label: 'a', order: 1, probability: 5 }], 'euro')).toThrow(/currency/);
  });
});

describe('money arithmetic', () => {
  it('is exact where floats are not', () => {
    expect(fromUnits(toUnits('0.1') + toUnits('0.2'))).toBe('0.30');
    expect(fromUnits(toUnits('999999999999999999.99999999') + toUnits('0.00000001'))).toBe('1000000000000000000.00');
    expect(weightedAmount({ amount: '18500.00', currency: 'EUR' }, 25)).toEqual({ amount: '4625.00', currency: 'EUR' });
    expect(weightedAmount({ amount: '0.01', currency: 'EUR' }, 33).amount).toBe('0.0033');
    expect(fromUnits(-toUnits('12.5'))).toBe('-12.50');
  });

  it('compares amounts by value and currency', () => {
    expect(sameMoney({ amount: '18500', currency: 'EUR' }, { amount: '18500.000', currency: 'EUR' })).toBe(true);
    expect(sameMoney({ amount: '18500', currency: 'EUR' }, { amount: '18500', currency: 'USD' })).toBe(false);
    expect(sameMoney(undefined, { amount: '1', currency: 'EUR' })).toBe(false);
  });
});
