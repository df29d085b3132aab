// Package partition says which partition of a keyed Kafka topic a key lands
// in, exactly as trailwatch's producers place it.
//
// The scale-out service keys every normalized event by its canonical
// principal and produces it to the events topic with kafka-go's
// Murmur2Balancer, which is compatible with the Java client's default
// partitioner: toPositive(murmur2(key)) % partitions. Stage 2 keeps one
// detection engine, with its own baselines, peer groups and watermark, per
// partition, so which principals share a partition changes what is detected.
// Anything that must reproduce that layout offline (replay --partitions)
// needs the same answer without a broker or a kafka.Message: that is Of.
//
// Of is a port of the Java client's Utils.murmur2 over the key's bytes; it
// reads the string in place and does not allocate. The tests hold it to
// kafka-go's balancer over many keys and partition counts and to the Java
// client's published test vectors.
package partition

// Of returns the partition in 0..n-1 that kafka-go's Murmur2Balancer (and the
// Java client's default partitioner) chooses for a message whose key is the
// bytes of key, among partitions 0..n-1. An empty key is a key like any other
// (Kafka's "empty, non-nil" key), not a missing one. n must be at least 1;
// for smaller n Of returns 0.
func Of(key string, n int) int {
	if n <= 1 {
		return 0
	}
	return int((murmur2(key) & 0x7fffffff) % uint32(n))
}

// murmur2 is the Java client's Utils.murmur2: MurmurHash2, 32 bits, seed
// 0x9747b28c, little-endian blocks.
func murmur2(data string) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// What events are placed by (scale.partition_by).
const (
	// ByPrincipal spreads principals evenly: the most even load, with peer
	// groups formed within each partition.
	ByPrincipal = "principal"
	// ByAccount keeps an account's principals together: peer groups (account
	// and principal type) are complete in one partition, as in a single
	// engine, at the cost of one partition per account's whole volume.
	ByAccount = "account"
)

// KeyOf returns the string an event of principal key and account is placed
// by: the account with ByAccount (the principal when the account is
// unknown), else the principal.
func KeyOf(by, principal, account string) string {
	if by == ByAccount && account != "" {
		return account
	}
	return principal
}
