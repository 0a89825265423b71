export * from './feeder.js'
export * from './options.js'
export * from './page-refs.js'
