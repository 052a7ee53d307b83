// Package sim is a rarefied-gas particle simulation in the manner of
// SPLASH mp3d, the paper's second scientific program (§6.3): molecules
// fly through a three-dimensional wind tunnel of space cells past a flat
// plate; at every time step each molecule moves (reflecting off the walls
// and the plate, leaving downstream to re-enter from a reservoir) and may
// collide with the last molecule placed in its cell, the collision
// conserving momentum and energy in a random direction.
//
// It is the dense-dirty workload: every step writes every molecule and
// every cell, so a checkpoint saves almost the whole working set however
// often it is taken. Its memory is three segments and a heap object: the
// molecules, the cells, the run's state (step, random source, counters)
// and the job it was started for; as a recovery unit each segment is a
// unit of its own.
//
// Invariants: the simulation is deterministic — its only randomness is a
// splitmix64 source seeded by the job and kept in the state segment — and
// a checkpoint is taken only between two steps (Poll after a whole step),
// so a run restored from any checkpoint ends in the same state, bit for
// bit, as one that never stopped; Checksum says which.
package sim
