import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { createHub, MissingDependencyError } from '../../src';
import { prometheus } from '../../src/prometheus';
import { closed, listen, open } from '../support/net';
import { until } from '../support/raw';

/** The value of one sample of a parsed exposition, by metric name and labels. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}

describe('prometheus()', () => {
  it('exposes the server counters, read on scrape: the text parses and matches the traffic', async () => {
    const { server, url } = await listen({ heartbeat: false });
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket)); // echo
    const registry = new Registry();
    const registered = prometheus({ registry, server });
    const clients = [await open(url()), await open(url()), await open(url())];
    for (let i = 0; i < 5; i++) clients[i % 3]!.send(`m${i}`);
    await until(() => server.metrics().messages.sent === 5, 'five echoes');
    clients[0]!.close(4000);
    await closed(clients[0]!);
    await until(() => server.sockets.size === 2, 'the close');

    const text = await registry.metrics();
    const families = parsePrometheusTextFormat(text);
    expect(families.map((f) => f.name).sort()).toEqual([...registered.names].sort());
    expect(value(text, 'rxjs_ws_open_sockets')).toBe(2);
    expect(value(text, 'rxjs_ws_upgrades_accepted_total')).toBe(3);
    expect(value(text, 'rxjs_ws_messages_received_total')).toBe(5);
    expect(value(text, 'rxjs_ws_messages_sent_total')).toBe(5);
    expect(value(text, 'rxjs_ws_closes_total', { code: '4xxx' })).toBe(1);
    expect(value(text, 'rxjs_ws_upgrades_refused_total', { reason: 'origin' })).toBe(0);
    expect(value(text, 'rxjs_ws_received_bytes_total')).toBeGreaterThan(0);
    for (const f of families) {
      // Conventions: counters end in _total; no label is per socket or per address.
      expect(f.type === 'COUNTER').toBe(f.name.endsWith('_total'));
      for (const m of f.metrics) expect(Object.keys(m.labels ?? {}).every((l) => l === 'reason' || l === 'code')).toBe(true);
    }
    registered.unregister();
    expect(await registry.metrics()).toBe('\n');
  });

  it('exposes a hub: its counters, the adapter up and its lag in seconds', async () => {
    const hub = createHub();
    const registry = new Registry();
    prometheus({ registry, hub, prefix: 'chat_' });
    hub.publish('room', 'hi');
    const text = await registry.metrics();
    expect(value(text, 'chat_hub_published_total')).toBe(1);
    expect(value(text, 'chat_hub_adapter_up')).toBe(1);
    expect(value(text, 'chat_hub_adapter_lag_seconds')).toBe(0);
    await hub.close();
  });

  it('says which package is missing when prom-client cannot be loaded', () => {
    jest.isolateModules(() => {
      jest.doMock('prom-client', () => {
        throw new Error("Cannot find module 'prom-client'");
      });
      const { prometheus: isolated } = require('../../src/prometheus') as typeof import('../../src/prometheus');
      const { MissingDependencyError: Missing } = require('../../src/errors') as typeof import('../../src/errors');
      let thrown: unknown;
      try {
        isolated({});
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(Missing);
      expect((thrown as MissingDependencyError).dependency).toBe('prom-client');
    });
  });
});
