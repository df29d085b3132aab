package partition

import (
	"fmt"
	"math/rand/v2"
	"testing"

	kafka "github.com/segmentio/kafka-go"
)

// partitionCounts are the topic sizes the equality tests cover: the ones a
// deployment is likely to pick, plus odd and large ones for the modulo.
var partitionCounts = []int{1, 2, 3, 6, 12, 17, 64, 1000, 4096}

// balancerOf asks kafka-go itself, the way its Writer does for a topic with
// partitions 0..n-1.
func balancerOf(key string, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	k := []byte(key)
	if k == nil {
		k = []byte{} // an empty key, not a missing one (which kafka-go balances at random)
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: k}, parts...)
}

// testKeys are principal keys as trailwatch writes them, and arbitrary bytes
// of every length up to 80 (every tail length, invalid UTF-8, high bytes).
func testKeys() []string {
	keys := []string{
		"", "a", "ab", "abc", "abcd",
		"arn:aws:iam::111122223333:user/alice",
		"arn:aws:iam::111122223333:role/backup",
		"arn:aws:sts::111122223333:assumed-role/admin/session",
		"arn:aws:iam::111122223333:root",
		"eni-0123456789abcdef0",
		"\x00", "\xff\xfe\xfd", "ü", "\u2028",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		b := make([]byte, i%81)
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		keys = append(keys, string(b))
	}
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("arn:aws:iam::%012d:user/u%d", i%97, i))
	}
	return keys
}

// TestOfMatchesKafkaGo: Of and kafka-go's Murmur2Balancer agree on every
// key and partition count, so replay puts each principal where the service's
// producer does.
func TestOfMatchesKafkaGo(t *testing.T) {
	keys := testKeys()
	for _, n := range partitionCounts {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			seen := make([]int, n)
			for _, k := range keys {
				got, want := Of(k, n), balancerOf(k, n)
				if got != want {
					t.Fatalf("Of(%q, %d) = %d, kafka-go says %d", k, n, got, want)
				}
				seen[got]++
			}
			if n <= 64 {
				for p, c := range seen {
					if c == 0 {
						t.Errorf("partition %d of %d never chosen over %d keys", p, n, len(keys))
					}
				}
			}
		})
	}
}

// TestMurmur2JavaVectors holds murmur2 to values published with the Java
// client and with librdkafka's Java-compatible murmur2.
func TestMurmur2JavaVectors(t *testing.T) {
	tests := []struct {
		key  string
		want int32 // Java's int
	}{
		// apache/kafka clients UtilsTest.testMurmur2.
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		// librdkafka rdmurmur2.c unit test (Java-compatible values).
		// Listed there as unsigned: 0xd067cf64, 0x8f552b0c, 0x9fc97b14.
		{"kafka", -0x2f98309c},
		{"giberish123456789", -0x70aad4f4},
		{"1234", -0x603684ec},
		{"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c},
		{"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f},
		{"", 0x106e08d9},
	}
	for _, tt := range tests {
		if got := int32(murmur2(tt.key)); got != tt.want {
			t.Errorf("murmur2(%q) = %d, Java says %d", tt.key, got, tt.want)
		}
	}
}

// TestOfJavaPartitions: partitions the Java partitioner picks among 1000,
// as kafka-python's Murmur2Partitioner tests record them.
func TestOfJavaPartitions(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"", 681}, {"a", 524}, {"ab", 434}, {"abc", 107}, {"123456789", 566}, {"\x00 ", 742},
	}
	for _, tt := range tests {
		if got := Of(tt.key, 1000); got != tt.want {
			t.Errorf("Of(%q, 1000) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestOfDegenerateCounts(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		if got := Of("arn:aws:iam::111122223333:user/alice", n); got != 0 {
			t.Errorf("Of(_, %d) = %d, want 0", n, got)
		}
	}
}

func TestOfDoesNotAllocate(t *testing.T) {
	key := "arn:aws:iam::111122223333:user/alice"
	if n := testing.AllocsPerRun(1000, func() { _ = Of(key, 12) }); n != 0 {
		t.Fatalf("Of allocates %.1f times per call", n)
	}
}

// FuzzOf: any key, any partition count in 1..4096, same answer as kafka-go.
func FuzzOf(f *testing.F) {
	f.Add("", uint16(1))
	f.Add("arn:aws:iam::111122223333:user/alice", uint16(12))
	f.Add("\xff\x00abc", uint16(4096))
	f.Fuzz(func(t *testing.T, key string, n uint16) {
		parts := int(n%4096) + 1
		if got, want := Of(key, parts), balancerOf(key, parts); got != want {
			t.Fatalf("Of(%q, %d) = %d, kafka-go says %d", key, parts, got, want)
		}
	})
}

func BenchmarkOf(b *testing.B) {
	for _, key := range []string{
		"arn:aws:iam::111122223333:user/alice",
		"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
	} {
		b.Run(fmt.Sprintf("len=%d", len(key)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(key)))
			s := 0
			for b.Loop() {
				s += Of(key, 12)
			}
			_ = s
		})
	}
}

// BenchmarkKafkaGoBalancer is the alternative Of replaces, which needs a
// Message, a []byte key and the partition list.
func BenchmarkKafkaGoBalancer(b *testing.B) {
	key := "arn:aws:iam::111122223333:user/alice"
	parts := make([]int, 12)
	for i := range parts {
		parts[i] = i
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		_ = kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(key)}, parts...)
	}
}

func TestKeyOf(t *testing.T) {
	for _, c := range []struct{ by, principal, account, want string }{
		{ByPrincipal, "arn:aws:iam::1:user/a", "1", "arn:aws:iam::1:user/a"},
		{ByAccount, "arn:aws:iam::1:user/a", "1", "1"},
		{ByAccount, "ec2.amazonaws.com", "", "ec2.amazonaws.com"},
	} {
		if got := KeyOf(c.by, c.principal, c.account); got != c.want {
			t.Errorf("KeyOf(%s, %s, %s) = %s, want %s", c.by, c.principal, c.account, got, c.want)
		}
	}
}
