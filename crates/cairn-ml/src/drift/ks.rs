//! The two-sample Kolmogorov–Smirnov test, two-sided, as SciPy's `ks_2samp` computes it with
//! `method='auto'`: the exact p-value (Hodges' lattice-path recursion in the numerically stable
//! form SciPy uses, after Viehmann 2021) when both samples have at most 10,000 values, else
//! Kolmogorov's asymptotic distribution at `sqrt(n·m/(n+m))·D` (SciPy uses the finite-n
//! distribution there, which differs in the last digits).

/// Samples larger than this use the asymptotic p-value (SciPy's `MAX_AUTO_N`).
const MAX_EXACT_N: usize = 10_000;

/// The statistic and its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// The largest distance between the two empirical distribution functions.
    pub statistic: f64,
    /// The probability of a distance at least as large if both came from one distribution.
    pub pvalue: f64,
}

/// The test on two sorted samples; none when either is empty.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Option<KsResult> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let d = statistic(a, b);
    let exact = (n1.max(n2) <= MAX_EXACT_N)
        .then(|| exact_pvalue(n1 as i64, n2 as i64, d))
        .flatten();
    let (statistic, pvalue) = exact.unwrap_or_else(|| {
        let en = (n1 * n2) as f64 / (n1 + n2) as f64;
        (d, kolmogorov_sf(en.sqrt() * d))
    });
    Some(KsResult {
        statistic,
        pvalue: pvalue.clamp(0.0, 1.0),
    })
}

/// max |F_a(x) − F_b(x)| over every value of either sample (right-continuous ECDFs).
fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        while a.get(i).is_some_and(|x| *x <= v) {
            i += 1;
        }
        while b.get(j).is_some_and(|y| *y <= v) {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d
}

/// SciPy's `_attempt_exact_2kssamp`, two-sided: the statistic rounded to the lattice and its
/// exact p-value, or none when the lattice is too fine or the arithmetic fails.
fn exact_pvalue(n1: i64, n2: i64, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let (n1g, n2g) = (n1 / g, n2 / g);
    if n1g >= i64::from(i32::MAX) / n2g {
        return None;
    }
    let lcm = n1g * n2;
    let h = (d * lcm as f64).round_ties_even() as i64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)?
    };
    (p.is_finite()).then_some((d, p))
}

/// Pr(D ≥ h/n) for two samples of `n`: SciPy's `_compute_prob_outside_square`.
fn prob_outside_square(n: i64, h: i64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The share of lattice paths from (0, 0) to (m, n) that leave the band |x/m − y/n| < h/lcm:
/// SciPy's `_compute_outer_prob_inside_method`, one sliding column at a time.
fn outer_prob_inside(m: i64, n: i64, g: i64, h: i64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let (hf, nn) = (h as f64, n as usize);
    let mut minj: usize = 0;
    let mut maxj: usize = ((hf / mg).ceil() as usize).min(nn + 1);
    let mut curlen = maxj - minj;
    let len = (2 * maxj + 2).min(nn + 1);
    let mut a = vec![1.0f64; len];
    a[minj..maxj.min(len)].fill(0.0);
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        let fi = i as f64;
        let low = ((ng * fi - hf) / mg).floor() + 1.0;
        minj = (low.max(0.0) as usize).min(nn);
        maxj = (((ng * fi + hf) / mg).ceil() as usize).min(nn + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..maxj - minj {
            let j = (jj + minj) as f64;
            let prev = *a.get(jj + minj - lastminj)?;
            val = (prev * fi + val * j) / (fi + j);
            *a.get_mut(jj)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = (maxj - minj).min(len);
            let to = (maxj - minj + (lastlen - curlen)).min(len);
            a[from..to].fill(1.0);
        }
    }
    a.get(maxj - minj - 1).copied()
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Kolmogorov's survival function Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²).
fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as i64 % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistic_and_small_exact_cases() {
        // Disjoint samples: D = 1, and p = 2 / C(n1+n2, n1) for the exact test.
        let r = ks_2samp(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).expect("result");
        assert_eq!(r.statistic, 1.0);
        assert!((r.pvalue - 0.1).abs() < 1e-12, "{r:?}");
        let r = ks_2samp(&[1.0, 2.0], &[3.0, 4.0, 5.0]).expect("result");
        assert!((r.pvalue - 0.2).abs() < 1e-12, "{r:?}");
        // The same sample: D = 0, p = 1.
        let same = ks_2samp(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).expect("result");
        assert_eq!((same.statistic, same.pvalue), (0.0, 1.0));
        assert!(ks_2samp(&[], &[1.0]).is_none());
        assert!((kolmogorov_sf(1.0) - 0.26999967167735456).abs() < 1e-12);
    }
}
