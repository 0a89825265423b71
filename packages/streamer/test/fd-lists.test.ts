import t from 'tap'
import { parseFdList, parseExtFiles, parsePortRemaps, UsageError } from '../src/index.js'

t.test('fd lists, ext files and port remaps', async t => {
  t.same(parseFdList('3,4, 5', '-s'), [3, 4, 5])
  t.throws(() => parseFdList('3,x', '-s'), UsageError)
  t.same(parseExtFiles('fs.tar:20,a:b.img:21', '-e'), [{ name: 'fs.tar', fd: 20 }, { name: 'a:b.img', fd: 21 }], 'the last colon splits')
  t.throws(() => parseExtFiles('fs.tar', '-e'), /is not NAME:FD/)
  t.throws(() => parseExtFiles('../x:3', '-e'), /bad image file name/)
  t.same([...parsePortRemaps('80:8080,443:8443', '--r')], [[80, 8080], [443, 8443]])
  t.throws(() => parsePortRemaps('80:70000', '--r'), /OLD_PORT:NEW_PORT/)
  t.throws(() => parsePortRemaps('80:81,80:82', '--r'), /given twice/)
})
