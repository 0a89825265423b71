import t from 'tap'
import { parentLinkTarget } from '../src/parent-link.js'

t.test('a relative parent link is kept when it resolves the same from DST', async (t) => {
  t.equal(parentLinkTarget('/d/2', '/d/2-lazy', '../1'), '../1')
  t.equal(parentLinkTarget('/d/2', '/d/2-lazy', '/abs/1'), '/abs/1')
})

t.test('made absolute when DST lives elsewhere', async (t) => {
  t.equal(parentLinkTarget('/d/2', '/e/f/lazy', '../1'), '/d/1')
  t.equal(parentLinkTarget('rel/2', '/elsewhere/x', '../1'), `${process.cwd()}/rel/1`)
})
