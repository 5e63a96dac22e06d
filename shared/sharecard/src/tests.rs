use super::*;

fn air_card(aqi: &str) -> Card {
    Card {
        kicker: "成都 · 空气质量".into(),
        title: "锦江区".into(),
        badge: Some(Badge {
            value: aqi.into(),
            label: "良".into(),
            fill: Rgb::from_hex("#FFFF00").unwrap(),
            text: Rgb::from_hex("#000000").unwrap(),
        }),
        lines: vec!["首要污染物 PM2.5".into(), "2026-12-02 20:00".into()],
        map: None,
        footer: "城市服务 · 成都市".into(),
    }
}

#[test]
fn the_bundled_font_parses_and_covers_the_seeds() {
    assert!(missing_chars("锦江区青羊区金牛区武侯区成华区空气质量良轻度污染首要污染物处理中已解决").is_empty());
    let seeds =
        concat!(include_str!("../../../seeds/districts.geojson"), include_str!("../../../seeds/air/stations.json"),);
    assert_eq!(missing_chars(seeds), Vec::<char>::new());
}

#[test]
fn a_card_is_a_5_by_4_png_with_ink_in_it() {
    let png = render(&air_card("85")).unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
    assert_eq!(img.width() * 4, img.height() * 5);
    // The badge is yellow and the title's glyphs are dark: both colours are on the card.
    assert!(img.pixels().any(|p| p.0 == [0xFF, 0xFF, 0x00]));
    let dark = img.pixels().filter(|p| p.0.iter().all(|v| *v < 0x40)).count();
    assert!(dark > 500, "only {dark} dark pixels: no text drawn");
}

#[test]
fn the_tag_follows_what_is_drawn() {
    assert_eq!(air_card("85").etag(), air_card("85").etag());
    assert_ne!(air_card("85").etag(), air_card("86").etag());
    assert!(air_card("85").etag().starts_with('"'));
}

#[test]
fn if_none_match_takes_lists_weak_tags_and_star() {
    let tag = "\"abc\"";
    assert!(if_none_match(Some("\"x\", \"abc\""), tag));
    assert!(if_none_match(Some("W/\"abc\""), tag));
    assert!(if_none_match(Some("*"), tag));
    assert!(!if_none_match(Some("\"abd\""), tag));
    assert!(!if_none_match(None, tag));
}

#[test]
fn the_cache_draws_a_card_once_per_change_and_stays_bounded() {
    let cache = CardCache::new(2);
    let (t1, a) = cache.png(&air_card("85")).unwrap();
    let (t2, b) = cache.png(&air_card("85")).unwrap();
    assert_eq!(t1, t2);
    assert!(std::sync::Arc::ptr_eq(&a, &b), "the second answer is the kept image");
    cache.png(&air_card("86")).unwrap();
    cache.png(&air_card("87")).unwrap();
    assert_eq!(cache.len(), 2);
}

#[test]
fn long_text_is_cut_to_the_card() {
    let mut card = air_card("85");
    card.title = "很长的标题".repeat(20);
    card.map =
        Some(MapInset { rings: vec![vec![(104.0, 30.6), (104.1, 30.6), (104.1, 30.7)]], pin: Some((104.05, 30.65)) });
    assert!(render(&card).is_ok());
    assert!(text::width(&text::fit(&card.title, 40.0, 444.0), 40.0) <= 444.0);
}
