// Package bytesize writes byte counts for people, in binary units, the same
// way everywhere romsyncd prints one.
package bytesize

import "fmt"

// Format renders n in binary units with one decimal: "512 B", "1.5 KiB",
// "4.0 GiB".
func Format(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	const units = "KMGTPE"
	i := -1
	// 1023.95 rounds up to "1024.0" with one decimal: move to the next unit.
	for i < len(units)-1 && v >= 1023.95 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}
