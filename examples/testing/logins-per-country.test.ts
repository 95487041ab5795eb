import { JobTestDriver } from '@sluice/core/testing';
import { expect, it } from 'vitest';
import type { CountryMinute, Login } from './logins-per-country.ts';

const job = new URL('./logins-per-country.ts', import.meta.url);

it('counts logins per country and minute of processing time', async () => {
  await using driver = await JobTestDriver.start(job, { inputs: ['logins'], outputs: ['per-country'] });
  const perCountry = driver.output<CountryMinute>('per-country');
  driver.input<Login>('logins').send([
    { user: 'ann', country: 'FR' },
    { user: 'bo', country: 'FR' },
  ]);
  await driver.advanceTime(59_000);
  expect(perCountry.take()).toEqual([]); // the minute is not over yet
  await driver.advanceTime(1_000);
  expect(perCountry.take()).toEqual([{ country: 'FR', minute: 0, logins: 2 }]);
});

it('gives the same counts at any parallelism', async () => {
  const logins: Login[] = Array.from({ length: 1_000 }, (_, i) => ({ user: `u${i}`, country: `c${i % 7}` }));
  const expected = new Map<string, number>();
  for (const { country } of logins) expected.set(country, (expected.get(country) ?? 0) + 1);
  for (const parallelism of [1, 2, 4]) {
    await using driver = await JobTestDriver.start(job, {
      parallelism,
      inputs: ['logins'],
      outputs: ['per-country'],
    });
    driver.input<Login>('logins').send(logins);
    await driver.advanceTime(60_000);
    const counts = driver.output<CountryMinute>('per-country').all();
    expect(new Map(counts.map((c) => [c.country, c.logins]))).toEqual(expected);
  }
});
