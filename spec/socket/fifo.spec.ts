import { Fifo } from '../../src/socket/fifo';

describe('Fifo', () => {
  it('hands items back oldest first, and is empty again after the last', () => {
    const fifo = new Fifo<number>();
    expect(fifo.length).toBe(0);
    fifo.push(1);
    fifo.push(2);
    expect(fifo.shift()).toBe(1);
    fifo.push(3);
    expect([fifo.length, fifo.shift(), fifo.shift(), fifo.length]).toEqual([2, 2, 3, 0]);
    fifo.push(4);
    expect([fifo.length, fifo.shift()]).toEqual([1, 4]);
  });

  it('removes the oldest occurrence of an item, also the last one left', () => {
    const fifo = new Fifo<string>();
    expect(fifo.remove('a')).toBe(false);
    for (const item of ['a', 'b', 'a']) fifo.push(item);
    expect(fifo.shift()).toBe('a');
    expect(fifo.remove('a')).toBe(true);
    expect(fifo.length).toBe(1);
    expect(fifo.remove('b')).toBe(true);
    expect(fifo.length).toBe(0);
    fifo.push('c');
    expect(fifo.clear()).toEqual(['c']);
    expect(fifo.clear()).toEqual([]);
  });

  it('keeps order across its compaction of a long list', () => {
    const fifo = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 5000; i++) {
      fifo.push(i);
      if (i % 3 === 0) out.push(fifo.shift());
    }
    while (fifo.length > 0) out.push(fifo.shift());
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});
