import { dupOf, runMain } from '@criu-pipes/streamer'
import { parseOptions } from './options.js'
import { extract } from './extract.js'
import { merge } from './merge.js'

runMain('img-join', () => {
  const o = parseOptions()
  if (o.imagesDir !== null) {
    extract({ ...o, imagesDir: o.imagesDir })
  } else {
    merge({ ...o, outFd: dupOf(1) })
  }
})
