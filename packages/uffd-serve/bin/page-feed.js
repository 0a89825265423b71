#!/usr/bin/env node
import "../dist/src/feed-main.js"
