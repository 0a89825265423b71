/** A refusal worth one line to the user: the message is printed after "crit-make-lazy: ". */
export class MakeLazyError extends Error {
  override readonly name = 'MakeLazyError'
}
