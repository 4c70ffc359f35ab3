package schema

import "fmt"

// suggest returns ` (did you mean "X"?)` for the candidate closest to name,
// or "" when none is close enough to be a likely typo.
func suggest(name string, candidates []string) string {
	best := Closest(name, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the candidate closest to name by edit distance (a
// transposition counts as one edit) when it is close enough to be a likely
// typo (at most a third of name's length, between 1 and 3 edits), or "".
// Commands use it for their own "did you mean" hints.
func Closest(name string, candidates []string) string {
	best, bestDist := "", -1
	limit := min(max(len(name)/3, 1), 3)
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(name, c, limit)
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b, or limit+1 once it is certain to exceed limit.
// Only the cells within limit of the diagonal are computed (a path through
// any other cell costs more than limit), so the time is linear in the
// length of the names, not quadratic.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	over := limit + 1
	var buf [3 * 68]int // room for names of up to 66 bytes without allocating
	var rows []int
	if n := 3 * (len(b) + 2); n <= len(buf) {
		rows = buf[:n]
	} else {
		rows = make([]int, n)
	}
	w := len(b) + 2
	prev2, prev, cur := rows[:w], rows[w:2*w], rows[2*w:]
	for j := range prev {
		prev[j] = min(j, over)
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-limit), min(len(b), i+limit)
		cur[0] = min(i, over)
		if lo > 1 {
			cur[lo-1] = over // left of the band
		}
		best := cur[0]
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			v = min(v, over)
			cur[j] = v
			best = min(best, v)
		}
		cur[hi+1] = over // right of the band, read by the next row
		if best > limit {
			return over
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// hintBudget bounds the work one Compile spends on "did you mean" hints,
// counted in bytes of names compared. A hint compares a name with every
// candidate, so a schema with many unknown names among many known ones would
// otherwise take time quadratic in its size; once the budget is spent, errors
// come without a hint. Real schemas with a few typos never come near it.
const hintBudget = 4 << 20

// hint is suggest for the checker, within its budget. candidates is called
// only while budget remains.
func (c *checker) hint(name string, candidates func() []string) string {
	if c.hintBudget <= 0 {
		return ""
	}
	cands := candidates()
	c.hintBudget--
	for _, s := range cands {
		c.hintBudget -= 1 + len(s) + min(len(s), len(name))
	}
	return suggest(name, cands)
}
