//! Treatment menus (R1) and the choices made when booking against one (R3, R6).

use crate::ids::MenuId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// 診察方式: how the consultation takes place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsultationMode {
    InPerson,
    Online,
}

impl ConsultationMode {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 2] = [Self::InPerson, Self::Online];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InPerson => "in_person",
            Self::Online => "online",
        }
    }
}

impl fmt::Display for ConsultationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 初診 / 再診: decides which of the menu's durations applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VisitType {
    First,
    Revisit,
}

impl VisitType {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 2] = [Self::First, Self::Revisit];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Revisit => "revisit",
        }
    }
}

/// A menu as the clinic defines it today. Commands carry this snapshot so the decider stays
/// pure; the booking event copies the parts it needs, so later menu edits never rewrite history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    pub id: MenuId,
    pub name: String,
    pub modes: Vec<ConsultationMode>,
    pub duration_first_min: u32,
    pub duration_revisit_min: u32,
    /// Booking fee for self-pay menus; 0 when none.
    pub booking_fee_yen: u32,
}

impl Menu {
    pub fn allows(&self, mode: ConsultationMode) -> bool {
        self.modes.contains(&mode)
    }

    pub fn duration_min(&self, visit: VisitType) -> u32 {
        match visit {
            VisitType::First => self.duration_first_min,
            VisitType::Revisit => self.duration_revisit_min,
        }
    }
}
