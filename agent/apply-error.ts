// An update step that failed, naming the component (apps, config, os) and the element at fault, so the status
// message says what broke.
export class ApplyError extends Error {
  constructor(
    readonly component: string,
    readonly element: string,
    message: string,
  ) {
    super(`${component} ${element}: ${message}`.slice(0, 250));
  }
}
