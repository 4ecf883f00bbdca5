/** Just enough of `@angular/core` and `@angular/common` for the documentation's Angular snippet to compile and run. */
export interface OnDestroy {
  ngOnDestroy(): void;
}

type ClassDecorator = (target: abstract new (...args: never[]) => unknown, context: ClassDecoratorContext) => void;

const instances = new Map<unknown, unknown>();

/** Marks a service; `inject()` makes one instance of it. */
export function Injectable(_options?: { providedIn?: 'root' }): ClassDecorator {
  return () => {};
}

/** Marks a component. */
export function Component(_options: { selector: string; standalone?: boolean; imports?: unknown[]; template: string }): ClassDecorator {
  return () => {};
}

/** The one instance of a service. */
export function inject<T>(token: new () => T): T {
  if (!instances.has(token)) instances.set(token, new token());
  return instances.get(token) as T;
}

/** Destroys the services made so far, as Angular does when the application ends. */
export function destroyAll(): void {
  for (const instance of instances.values()) (instance as Partial<OnDestroy>).ngOnDestroy?.();
  instances.clear();
}

/** The `async` pipe. */
export class AsyncPipe {}
