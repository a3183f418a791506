//! Solar events (placeholder: the NOAA implementation is being written).

use crate::time::Millis;

/// The solar events a schedule or a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolarEvent {
    Sunrise,
    Sunset,
    CivilDawn,
    CivilDusk,
    NauticalDawn,
    NauticalDusk,
    AstronomicalDawn,
    AstronomicalDusk,
    SolarNoon,
}

impl SolarEvent {
    pub const ALL: [SolarEvent; 9] = [
        SolarEvent::Sunrise,
        SolarEvent::Sunset,
        SolarEvent::CivilDawn,
        SolarEvent::CivilDusk,
        SolarEvent::NauticalDawn,
        SolarEvent::NauticalDusk,
        SolarEvent::AstronomicalDawn,
        SolarEvent::AstronomicalDusk,
        SolarEvent::SolarNoon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SolarEvent::Sunrise => "sunrise",
            SolarEvent::Sunset => "sunset",
            SolarEvent::CivilDawn => "civil_dawn",
            SolarEvent::CivilDusk => "civil_dusk",
            SolarEvent::NauticalDawn => "nautical_dawn",
            SolarEvent::NauticalDusk => "nautical_dusk",
            SolarEvent::AstronomicalDawn => "astronomical_dawn",
            SolarEvent::AstronomicalDusk => "astronomical_dusk",
            SolarEvent::SolarNoon => "solar_noon",
        }
    }

    pub fn parse(s: &str) -> Option<SolarEvent> {
        SolarEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The instant of `event` for the local solar day centred on the given UTC calendar date's
/// local noon at (`lat`, `lon`), or `None` when it does not occur that day (polar day/night).
pub fn event_on(_date: jiff::civil::Date, _lat: f64, _lon: f64, _event: SolarEvent) -> Option<Millis> {
    None
}

/// The first occurrence of `event` strictly after `t`, searching at most 366 days ahead.
pub fn next_event_after(_t: Millis, _lat: f64, _lon: f64, _event: SolarEvent) -> Option<Millis> {
    None
}
