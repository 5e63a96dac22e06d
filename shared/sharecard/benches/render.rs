//! Render time of a share card: cold (drawn and encoded) and cached (a kept image looked up by its
//! tag), p50 and p99. `cargo bench -p city-sharecard --bench render`.

use std::time::{Duration, Instant};

use city_sharecard::{render, Badge, Card, CardCache, MapInset, Rgb};

fn card(i: usize, map: bool) -> Card {
    Card {
        kicker: "成都 · 空气质量".into(),
        title: if map { "路灯不亮".into() } else { "锦江区".into() },
        badge: Some(Badge {
            value: format!("{}", 20 + i % 480),
            label: "轻度污染".into(),
            fill: Rgb(0xFF, 0x7E, 0x00),
            text: Rgb::INK,
        }),
        lines: vec![format!("首要污染物 PM2.5 · 第 {i} 次"), "数据时间 2026-12-02 20:00".into()],
        map: map.then(|| MapInset {
            rings: vec![vec![(104.05, 30.62), (104.12, 30.61), (104.14, 30.68), (104.08, 30.70), (104.04, 30.66)]],
            pin: Some((104.09, 30.65)),
        }),
        footer: "城市服务 · 成都市 · 数据更新于 20:00".into(),
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn main() {
    // The first draw also parses the font (once per process): reported apart.
    let t = Instant::now();
    render(&card(0, false)).expect("render");
    eprintln!("first card in the process (font parse included): {:?}", t.elapsed());

    for map in [false, true] {
        let n = 300;
        let cold: Vec<Duration> = (1..=n)
            .map(|i| {
                let c = card(i, map);
                let t = Instant::now();
                let png = render(&c).expect("render");
                std::hint::black_box(png);
                t.elapsed()
            })
            .collect();
        let cache = CardCache::new(16);
        let c = card(7, map);
        let sample = cache.png(&c).expect("render").1;
        let size = sample.len();
        // Kept for a look: the same card a service would serve.
        let file = std::env::temp_dir().join(format!("city-sharecard-{}.png", if map { "map" } else { "air" }));
        std::fs::write(&file, sample.as_slice()).expect("the sample is written");
        eprintln!("sample: {}", file.display());
        let cached: Vec<Duration> = (0..n * 10)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(cache.png(&c).expect("cached"));
                t.elapsed()
            })
            .collect();
        let (c50, c99) = percentiles(cold);
        let (h50, h99) = percentiles(cached);
        let what = if map { "incident card (map inset)" } else { "air card" };
        println!("{what}: cold p50 {c50:?} p99 {c99:?}; cached p50 {h50:?} p99 {h99:?}; PNG {size} bytes");
    }
}
