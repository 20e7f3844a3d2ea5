// Package sync brings a target folder tree in line with a ROM library: it
// plans each target folder, installs changed files atomically and verified,
// mirrors deletions of files it installed itself, and keeps a manifest per
// target folder of what it installed.
//
// The unit of work is one target folder. Every source folder that maps to it
// feeds it, and exactly one worker writes it at a time; the daemon hands
// dirty folders to the same code the one-shot `romsyncd sync` uses.
package sync
