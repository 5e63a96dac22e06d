//! Index levels: category names, colours, health effects and advice, per scheme.
//!
//! All three schemes cut the index at 50, 100, 150, 200 and 300 into six levels, but their names, the purple of level V and the advice differ.
//! The English health texts restate the reference's summaries; the Chinese texts translate those summaries.
//! Neither is the standards' official wording, so the content owner should review them before they are shown to citizens.

use crate::domain::pollutant::Pollutant;

/// One of the six index levels of a scheme, with everything a citizen sees for it.
#[derive(Debug, PartialEq, Eq)]
pub struct Category {
    /// 1 (best) to 6 (worst).
    pub level: u8,
    /// The level as the Chinese standards write it: 一级 … 六级.
    pub level_zh: &'static str,
    /// The level in Roman numerals: I … VI.
    pub level_roman: &'static str,
    /// Lowest index of the level as the standard writes it (HJ 633-2026 writes level I as 1–50; an index of 0 is still level I).
    pub aqi_min: u16,
    /// Highest index of the level; `None` for the open-ended top level.
    pub aqi_max: Option<u16>,
    /// Category name in Chinese, e.g. 轻度污染.
    pub name_zh: &'static str,
    /// Category name in English, e.g. "Lightly polluted".
    pub name_en: &'static str,
    /// Display colour.
    pub colour: Colour,
    /// What the level means for health, in English.
    pub health_effect_en: &'static str,
    /// What the level means for health, in Chinese.
    pub health_effect_zh: &'static str,
    /// Recommended measures, in English.
    pub advice_en: &'static str,
    /// Recommended measures, in Chinese.
    pub advice_zh: &'static str,
}

/// A level colour.
#[derive(Debug, PartialEq, Eq)]
pub struct Colour {
    /// English name, e.g. "orange".
    pub name_en: &'static str,
    /// Chinese name, e.g. 橙色.
    pub name_zh: &'static str,
    /// `#RRGGBB`, upper case.
    pub hex: &'static str,
    /// Red, green, blue.
    pub rgb: [u8; 3],
    /// Cyan, magenta, yellow, black in percent, where the standard gives them (China only).
    pub cmyk: Option<[u8; 4]>,
    /// Text colour with enough contrast on this background: `#000000` on green, yellow and orange, `#FFFFFF` on red, purple and maroon.
    pub text_hex: &'static str,
}

/// HJ 633-2026 Table 2: who is sensitive to a pollutant whose sub-index is above 100.
#[derive(Debug, PartialEq, Eq)]
pub struct SensitiveGroups {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// The sensitive groups, in English.
    pub groups_en: &'static str,
    /// The sensitive groups, in Chinese.
    pub groups_zh: &'static str,
}

/// Index into a six-level table for an index value: cuts at 50, 100, 150, 200 and 300.
pub(crate) fn level_index(aqi: u16) -> usize {
    match aqi {
        0..=50 => 0,
        51..=100 => 1,
        101..=150 => 2,
        151..=200 => 3,
        201..=300 => 4,
        _ => 5,
    }
}

const BLACK: &str = "#000000";
const WHITE: &str = "#FFFFFF";

const GREEN: Colour = Colour {
    name_en: "green",
    name_zh: "绿色",
    hex: "#00E400",
    rgb: [0, 228, 0],
    cmyk: Some([40, 0, 100, 0]),
    text_hex: BLACK,
};
const YELLOW: Colour = Colour {
    name_en: "yellow",
    name_zh: "黄色",
    hex: "#FFFF00",
    rgb: [255, 255, 0],
    cmyk: Some([0, 0, 100, 0]),
    text_hex: BLACK,
};
const ORANGE: Colour = Colour {
    name_en: "orange",
    name_zh: "橙色",
    hex: "#FF7E00",
    rgb: [255, 126, 0],
    cmyk: Some([0, 52, 100, 0]),
    text_hex: BLACK,
};
const RED: Colour = Colour {
    name_en: "red",
    name_zh: "红色",
    hex: "#FF0000",
    rgb: [255, 0, 0],
    cmyk: Some([0, 100, 100, 0]),
    text_hex: WHITE,
};
const CN_PURPLE: Colour = Colour {
    name_en: "purple",
    name_zh: "紫色",
    hex: "#99004C",
    rgb: [153, 0, 76],
    cmyk: Some([10, 100, 40, 30]),
    text_hex: WHITE,
};
const MAROON: Colour = Colour {
    name_en: "maroon",
    name_zh: "褐红色",
    hex: "#7E0023",
    rgb: [126, 0, 35],
    cmyk: Some([30, 100, 100, 30]),
    text_hex: WHITE,
};

/// The US table gives RGB and hex only, so the CMYK values are left out there.
const fn without_cmyk(colour: Colour) -> Colour {
    Colour { cmyk: None, ..colour }
}

const US_PURPLE: Colour =
    Colour { name_en: "purple", name_zh: "紫色", hex: "#8F3F97", rgb: [143, 63, 151], cmyk: None, text_hex: WHITE };

const LEVELS_ZH: [&str; 6] = ["一级", "二级", "三级", "四级", "五级", "六级"];
const LEVELS_ROMAN: [&str; 6] = ["I", "II", "III", "IV", "V", "VI"];

/// HJ 633-2012 Table 2 and Annex A.
pub(crate) static CN_2012: [Category; 6] = [
    Category {
        level: 1,
        level_zh: LEVELS_ZH[0],
        level_roman: LEVELS_ROMAN[0],
        aqi_min: 0,
        aqi_max: Some(50),
        name_zh: "优",
        name_en: "Excellent",
        colour: GREEN,
        health_effect_en: "Air quality is satisfactory; there is essentially no air pollution.",
        health_effect_zh: "空气质量令人满意，基本无空气污染。",
        advice_en: "Everyone can carry on normal activities.",
        advice_zh: "各类人群可正常活动。",
    },
    Category {
        level: 2,
        level_zh: LEVELS_ZH[1],
        level_roman: LEVELS_ROMAN[1],
        aqi_min: 51,
        aqi_max: Some(100),
        name_zh: "良",
        name_en: "Good",
        colour: YELLOW,
        health_effect_en: "Air quality is acceptable; a very small number of unusually sensitive people may be slightly affected by some pollutants.",
        health_effect_zh: "空气质量可接受，但某些污染物可能对极少数异常敏感人群健康有较弱影响。",
        advice_en: "Unusually sensitive people should cut down outdoor activity.",
        advice_zh: "极少数异常敏感人群应减少户外活动。",
    },
    Category {
        level: 3,
        level_zh: LEVELS_ZH[2],
        level_roman: LEVELS_ROMAN[2],
        aqi_min: 101,
        aqi_max: Some(150),
        name_zh: "轻度污染",
        name_en: "Lightly polluted",
        colour: ORANGE,
        health_effect_en: "Symptoms of susceptible people worsen slightly; healthy people may feel irritation.",
        health_effect_zh: "易感人群症状有轻度加剧，健康人群出现刺激症状。",
        advice_en: "Children, the elderly and people with heart or respiratory disease should reduce prolonged or strenuous outdoor exercise.",
        advice_zh: "儿童、老年人及心脏病、呼吸系统疾病患者应减少长时间、高强度的户外锻炼。",
    },
    Category {
        level: 4,
        level_zh: LEVELS_ZH[3],
        level_roman: LEVELS_ROMAN[3],
        aqi_min: 151,
        aqi_max: Some(200),
        name_zh: "中度污染",
        name_en: "Moderately polluted",
        colour: RED,
        health_effect_en: "Symptoms of susceptible people worsen further; the heart and respiratory systems of healthy people may be affected.",
        health_effect_zh: "易感人群症状进一步加剧，可能对健康人群心脏、呼吸系统有影响。",
        advice_en: "Children, the elderly and people with heart or respiratory disease should avoid prolonged or strenuous outdoor exercise; the general public should moderately reduce outdoor activity.",
        advice_zh: "儿童、老年人及心脏病、呼吸系统疾病患者避免长时间、高强度的户外锻炼，一般人群适量减少户外运动。",
    },
    Category {
        level: 5,
        level_zh: LEVELS_ZH[4],
        level_roman: LEVELS_ROMAN[4],
        aqi_min: 201,
        aqi_max: Some(300),
        name_zh: "重度污染",
        name_en: "Heavily polluted",
        colour: CN_PURPLE,
        health_effect_en: "Symptoms of people with heart or lung disease worsen markedly and exercise tolerance drops; symptoms are common among healthy people.",
        health_effect_zh: "心脏病和肺病患者症状显著加剧，运动耐受力降低，健康人群普遍出现症状。",
        advice_en: "Children, the elderly and people with heart or lung disease should stay indoors and stop outdoor exercise; the general public should reduce outdoor activity.",
        advice_zh: "儿童、老年人和心脏病、肺病患者应停留在室内，停止户外运动，一般人群减少户外运动。",
    },
    Category {
        level: 6,
        level_zh: LEVELS_ZH[5],
        level_roman: LEVELS_ROMAN[5],
        aqi_min: 301,
        aqi_max: None,
        name_zh: "严重污染",
        name_en: "Severely polluted",
        colour: MAROON,
        health_effect_en: "Healthy people's exercise tolerance drops and they have strong, obvious symptoms; some illnesses may appear early.",
        health_effect_zh: "健康人群运动耐受力降低，有明显强烈症状，提前出现某些疾病。",
        advice_en: "Children, the elderly and the sick should stay indoors and avoid physical exertion; the general public should avoid outdoor activity.",
        advice_zh: "儿童、老年人和病人应当留在室内，避免体力消耗，一般人群应避免户外活动。",
    },
];

/// HJ 633-2026: same levels and colours; level I written 1–50; texts name adolescents and cardiovascular disease.
pub(crate) static CN_2026: [Category; 6] = [
    Category {
        level: 1,
        level_zh: LEVELS_ZH[0],
        level_roman: LEVELS_ROMAN[0],
        aqi_min: 1,
        aqi_max: Some(50),
        name_zh: "优",
        name_en: "Excellent",
        colour: GREEN,
        health_effect_en: "Air quality is satisfactory; there is essentially no air pollution.",
        health_effect_zh: "空气质量令人满意，基本无空气污染。",
        advice_en: "Everyone can carry on normal activities.",
        advice_zh: "各类人群可正常活动。",
    },
    Category {
        level: 2,
        level_zh: LEVELS_ZH[1],
        level_roman: LEVELS_ROMAN[1],
        aqi_min: 51,
        aqi_max: Some(100),
        name_zh: "良",
        name_en: "Good",
        colour: YELLOW,
        health_effect_en: "Air quality is acceptable; a very small number of unusually sensitive people may be slightly affected by some pollutants.",
        health_effect_zh: "空气质量可接受，但某些污染物可能对极少数异常敏感人群健康有较弱影响。",
        advice_en: "Unusually sensitive people should cut down outdoor activity.",
        advice_zh: "极少数异常敏感人群应减少户外活动。",
    },
    Category {
        level: 3,
        level_zh: LEVELS_ZH[2],
        level_roman: LEVELS_ROMAN[2],
        aqi_min: 101,
        aqi_max: Some(150),
        name_zh: "轻度污染",
        name_en: "Lightly polluted",
        colour: ORANGE,
        health_effect_en: "Symptoms of susceptible people worsen slightly; healthy people may feel irritation.",
        health_effect_zh: "易感人群症状有轻度加剧，健康人群出现刺激症状。",
        advice_en: "Adolescents and children, the elderly and people with cardiovascular or respiratory disease should reduce prolonged or strenuous outdoor exercise.",
        advice_zh: "青少年和儿童、老年人及心血管疾病、呼吸系统疾病患者应减少长时间、高强度的户外锻炼。",
    },
    Category {
        level: 4,
        level_zh: LEVELS_ZH[3],
        level_roman: LEVELS_ROMAN[3],
        aqi_min: 151,
        aqi_max: Some(200),
        name_zh: "中度污染",
        name_en: "Moderately polluted",
        colour: RED,
        health_effect_en: "Symptoms of susceptible people worsen further; the cardiovascular and respiratory systems of healthy people may be affected.",
        health_effect_zh: "易感人群症状进一步加剧，可能对健康人群心血管、呼吸系统有影响。",
        advice_en: "Adolescents and children, the elderly and people with cardiovascular or respiratory disease should avoid prolonged or strenuous outdoor exercise; the general public should moderately reduce outdoor activity.",
        advice_zh: "青少年和儿童、老年人及心血管疾病、呼吸系统疾病患者避免长时间、高强度的户外锻炼，一般人群适量减少户外运动。",
    },
    Category {
        level: 5,
        level_zh: LEVELS_ZH[4],
        level_roman: LEVELS_ROMAN[4],
        aqi_min: 201,
        aqi_max: Some(300),
        name_zh: "重度污染",
        name_en: "Heavily polluted",
        colour: CN_PURPLE,
        health_effect_en: "Symptoms of people with cardiovascular or respiratory disease worsen markedly and exercise tolerance drops; symptoms are common among healthy people.",
        health_effect_zh: "心血管疾病和呼吸系统疾病患者症状显著加剧，运动耐受力降低，健康人群普遍出现症状。",
        advice_en: "Adolescents and children, the elderly and people with cardiovascular or respiratory disease should stay indoors and stop outdoor exercise; the general public should reduce outdoor activity.",
        advice_zh: "青少年和儿童、老年人和心血管疾病、呼吸系统疾病患者应停留在室内，停止户外运动，一般人群减少户外运动。",
    },
    Category {
        level: 6,
        level_zh: LEVELS_ZH[5],
        level_roman: LEVELS_ROMAN[5],
        aqi_min: 301,
        aqi_max: None,
        name_zh: "严重污染",
        name_en: "Severely polluted",
        colour: MAROON,
        health_effect_en: "Healthy people's exercise tolerance drops and they have strong, obvious symptoms; some illnesses may appear early.",
        health_effect_zh: "健康人群运动耐受力降低，有明显强烈症状，提前出现某些疾病。",
        advice_en: "Adolescents and children, the elderly and the sick should stay indoors and avoid physical exertion; the general public should avoid outdoor activity.",
        advice_zh: "青少年和儿童、老年人和病人应当留在室内，避免体力消耗，一般人群应避免户外活动。",
    },
];

/// EPA TAD 2024 categories, colours and messages; the Chinese names are the translations commonly used for the US index in China.
pub(crate) static US: [Category; 6] = [
    Category {
        level: 1,
        level_zh: LEVELS_ZH[0],
        level_roman: LEVELS_ROMAN[0],
        aqi_min: 0,
        aqi_max: Some(50),
        name_zh: "良好",
        name_en: "Good",
        colour: without_cmyk(GREEN),
        health_effect_en: "Air quality is satisfactory and poses little or no risk.",
        health_effect_zh: "空气质量令人满意，基本没有健康风险。",
        advice_en: "None: it is a good day to be active outside.",
        advice_zh: "无需采取措施，适合户外活动。",
    },
    Category {
        level: 2,
        level_zh: LEVELS_ZH[1],
        level_roman: LEVELS_ROMAN[1],
        aqi_min: 51,
        aqi_max: Some(100),
        name_zh: "中等",
        name_en: "Moderate",
        colour: without_cmyk(YELLOW),
        health_effect_en: "Air quality is acceptable; unusually sensitive people may be at some risk.",
        health_effect_zh: "空气质量可以接受，异常敏感的人群可能有一定风险。",
        advice_en: "Unusually sensitive people should consider limiting prolonged or heavy exertion outdoors.",
        advice_zh: "异常敏感的人群应考虑减少长时间或剧烈的户外活动。",
    },
    Category {
        level: 3,
        level_zh: LEVELS_ZH[2],
        level_roman: LEVELS_ROMAN[2],
        aqi_min: 101,
        aqi_max: Some(150),
        name_zh: "对敏感人群不健康",
        name_en: "Unhealthy for Sensitive Groups",
        colour: without_cmyk(ORANGE),
        health_effect_en: "Members of sensitive groups may experience health effects; the general public is less likely to be affected.",
        health_effect_zh: "敏感人群可能出现健康影响，一般公众受影响的可能性较小。",
        advice_en: "Sensitive groups (people with lung or heart disease, children, older adults, people who work outdoors) should reduce prolonged or heavy exertion outdoors.",
        advice_zh: "敏感人群（肺病或心脏病患者、儿童、老年人、户外工作者）应减少长时间或剧烈的户外活动。",
    },
    Category {
        level: 4,
        level_zh: LEVELS_ZH[3],
        level_roman: LEVELS_ROMAN[3],
        aqi_min: 151,
        aqi_max: Some(200),
        name_zh: "不健康",
        name_en: "Unhealthy",
        colour: without_cmyk(RED),
        health_effect_en: "Everyone may begin to experience health effects; sensitive groups may experience more serious effects.",
        health_effect_zh: "所有人都可能开始受到健康影响，敏感人群受影响更严重。",
        advice_en: "Sensitive groups should avoid prolonged or heavy exertion outdoors; everyone else should reduce it.",
        advice_zh: "敏感人群应避免长时间或剧烈的户外活动，其他人应减少此类活动。",
    },
    Category {
        level: 5,
        level_zh: LEVELS_ZH[4],
        level_roman: LEVELS_ROMAN[4],
        aqi_min: 201,
        aqi_max: Some(300),
        name_zh: "非常不健康",
        name_en: "Very Unhealthy",
        colour: US_PURPLE,
        health_effect_en: "Health alert: the risk of health effects is increased for everyone.",
        health_effect_zh: "健康警报：所有人的健康风险都有所增加。",
        advice_en: "Sensitive groups should avoid all physical activity outdoors; everyone else should limit outdoor exertion.",
        advice_zh: "敏感人群应避免一切户外体力活动，其他人应限制户外体力活动。",
    },
    Category {
        level: 6,
        level_zh: LEVELS_ZH[5],
        level_roman: LEVELS_ROMAN[5],
        aqi_min: 301,
        aqi_max: None,
        name_zh: "危险",
        name_en: "Hazardous",
        colour: without_cmyk(MAROON),
        health_effect_en: "Health warning of emergency conditions: everyone is likely to be affected.",
        health_effect_zh: "紧急健康警告：所有人都可能受到影响。",
        advice_en: "Everyone should avoid all physical activity outdoors; sensitive groups should stay indoors.",
        advice_zh: "所有人应避免一切户外体力活动，敏感人群应留在室内。",
    },
];

/// HJ 633-2026 Table 2, paraphrased.
pub(crate) static SENSITIVE_GROUPS_2026: [SensitiveGroups; 6] = [
    SensitiveGroups {
        pollutant: Pollutant::Pm25,
        groups_en: "People with cardiovascular or respiratory disease, adolescents and children, people often active outdoors, and older people.",
        groups_zh: "心血管疾病或呼吸系统疾病患者、青少年和儿童、经常户外活动的人群、老年人。",
    },
    SensitiveGroups {
        pollutant: Pollutant::Pm10,
        groups_en: "People with cardiovascular or respiratory disease, adolescents and children, people often active outdoors, and older people.",
        groups_zh: "心血管疾病或呼吸系统疾病患者、青少年和儿童、经常户外活动的人群、老年人。",
    },
    SensitiveGroups {
        pollutant: Pollutant::So2,
        groups_en: "People with asthma, adolescents and children, and older people.",
        groups_zh: "哮喘患者、青少年和儿童、老年人。",
    },
    SensitiveGroups {
        pollutant: Pollutant::No2,
        groups_en: "People with respiratory disease such as asthma, adolescents and children, and older people.",
        groups_zh: "哮喘等呼吸系统疾病患者、青少年和儿童、老年人。",
    },
    SensitiveGroups {
        pollutant: Pollutant::Co,
        groups_en: "People with cardiovascular disease.",
        groups_zh: "心血管疾病患者。",
    },
    SensitiveGroups {
        pollutant: Pollutant::O3,
        groups_en: "People with respiratory disease, adolescents and children, people often active outdoors, and older people.",
        groups_zh: "呼吸系统疾病患者、青少年和儿童、经常户外活动的人群、老年人。",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_cut_at_50_100_150_200_and_300() {
        let cases = [
            (0, 0),
            (50, 0),
            (51, 1),
            (100, 1),
            (101, 2),
            (150, 2),
            (151, 3),
            (200, 3),
            (201, 4),
            (300, 4),
            (301, 5),
            (500, 5),
            (649, 5),
        ];
        for (aqi, index) in cases {
            assert_eq!(level_index(aqi), index, "AQI {aqi}");
        }
    }

    #[test]
    fn every_table_numbers_its_levels_and_ranges_consistently() {
        for table in [&CN_2012, &CN_2026, &US] {
            for (i, category) in table.iter().enumerate() {
                assert_eq!(usize::from(category.level), i + 1);
                if let Some(max) = category.aqi_max {
                    assert_eq!(level_index(max), i);
                    assert_eq!(level_index(max + 1), i + 1);
                }
                assert_eq!(level_index(category.aqi_min), i);
                let [r, g, b] = category.colour.rgb;
                assert_eq!(category.colour.hex, format!("#{r:02X}{g:02X}{b:02X}"));
            }
        }
    }

    #[test]
    fn chinese_and_us_purples_differ_and_the_other_colours_match() {
        assert_eq!(CN_2012[4].colour.rgb, [153, 0, 76]);
        assert_eq!(CN_2026[4].colour.rgb, [153, 0, 76]);
        assert_eq!(US[4].colour.rgb, [143, 63, 151]);
        for i in [0, 1, 2, 3, 5] {
            assert_eq!(CN_2012[i].colour.hex, US[i].colour.hex);
        }
        assert_eq!(CN_2012[4].colour.cmyk, Some([10, 100, 40, 30]));
        assert_eq!(US[0].colour.cmyk, None);
    }

    #[test]
    fn the_sensitive_group_table_covers_every_pollutant_once() {
        for p in Pollutant::ALL {
            let n = SENSITIVE_GROUPS_2026.iter().filter(|g| g.pollutant == p).count();
            assert_eq!(n, 1, "{p}");
        }
    }
}
