#!/usr/bin/env bash
# The README's pre-copy recipe (two rounds by content over ssh), exactly as the README shows it
# (read from README.md, its /tmp/ paths moved into a private work dir), between the two hosts:
# round 1 left running into the destination's base, round 2 as a delta restored there; the
# process must continue on the destination with every page intact. (precopy.sh measures the
# same rounds with pages rewritten in between and a slow link.) Needs root.
source "$(dirname "$0")/lib.sh"
ssh_migration
pass
