/** The examples' command line: `--help` and `--origin`. */
import type { IncomingMessage } from 'node:http';
import { helpText, originFlag, serverFlags } from '../../examples/cli';

describe('the examples: --help', () => {
  it('lines up every description, --help included, in one column', () => {
    const text = helpText(serverFlags, 'Usage: npm start -- [options]');
    const options = text.split('\n').filter((line) => line.startsWith('  --'));
    expect(options.map((line) => line.match(/^ {2}--\S+ +/)![0].length)).toEqual(options.map(() => options[0]!.match(/^ {2}--\S+ +/)![0].length));
    expect(options.at(-1)).toMatch(/^ {2}--help +this text$/);
  });
});

describe('the examples: --origin', () => {
  const request = (host: string) => ({ headers: { host } }) as IncomingMessage;

  it('a list allows its origins and the server\'s own, and nothing else', () => {
    const check = originFlag('https://app.example.com,http://localhost:3000');
    if (typeof check !== 'function') throw new Error('expected a predicate');
    expect(check('https://app.example.com', request('127.0.0.1:8080'))).toBe(true);
    expect(check('http://localhost:3000', request('127.0.0.1:8080'))).toBe(true);
    expect(check('http://127.0.0.1:8080', request('127.0.0.1:8080'))).toBe(true); // the page it serves itself
    expect(check('https://chat.example.com', request('chat.example.com:443'))).toBe(true); // default ports compare as such
    expect(check('http://evil.example.com', request('127.0.0.1:8080'))).toBe(false);
    expect(check('http://127.0.0.1:8081', request('127.0.0.1:8080'))).toBe(false);
    expect(check('null', request('127.0.0.1:8080'))).toBe(false);
  });

  it('same-origin and any pass through as they are', () => {
    expect(originFlag('same-origin')).toBe('same-origin');
    expect(originFlag('any')).toBe('any');
  });
});
