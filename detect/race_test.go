//go:build race

package detect

// raceEnabled scales the long statistical tests down under the race
// detector, which slows them tenfold; the determinism test keeps its size.
const raceEnabled = true
