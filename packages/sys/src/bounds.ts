// Every helper that hands the kernel a pointer into a Buffer (or a mapped region) checks the span
// first: the kernel writes wherever it is told, and a length that came from a stream (a marker's
// file_data size) must never reach past the memory the caller owns.

/** Throws a RangeError unless [offset, offset+length) is a span of whole bytes inside `size`. */
export function checkSpan(what: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`${what}: ${length} bytes at offset ${offset} do not fit in ${size} bytes`)
  }
}
