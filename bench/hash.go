package bench

// mix returns a well-spread 64-bit hash of the seed and the values (the
// splitmix64 finaliser applied along the sequence). Every shape decision of
// a dataset is mix(seed, tag, indices...) so that it is a pure function of
// its inputs.
func mix(seed uint64, vals ...uint64) uint64 {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, v := range vals {
		h = splitmix(h ^ splitmix(v+0x632be59bd9b4e019))
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
