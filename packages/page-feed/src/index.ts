export * from './feeder.js'
export * from './options.js'
