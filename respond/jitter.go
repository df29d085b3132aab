package respond

import "math/rand/v2"

func defaultJitter() float64 { return rand.Float64() }
