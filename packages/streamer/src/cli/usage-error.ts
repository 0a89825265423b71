/** A bad command line: reported like any error, but with exit code 2 so scripts can tell. */
export class UsageError extends Error {
  override name = 'UsageError'
}
