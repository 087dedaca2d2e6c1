//! The clinic aggregate (stream `clinic-<clinic id>`): the clinic's profile and its staff
//! roster.
//!
//! Staff members are entities of the clinic rather than streams of their own because two
//! rules span members, and an aggregate is what one decision sees whole: "the last active
//! administrator cannot be removed" (demoting or deactivating one needs to know who else is
//! an active administrator) and "one e-mail address per member within the clinic" (an
//! invitation needs every member's address). With a stream per member, two administrators
//! demoting each other at the same moment would each see the other still in place and both
//! succeed; in one stream, the second decides on the first's outcome or its append fails.

use super::events::*;
use super::overwrite;
use crate::error::DomainError;
use crate::ids::{ClinicId, StaffId};
use crate::values::{ClinicName, EmailAddress, IanaTimeZone, PhoneNumber, StaffName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a staff member does at the clinic (SPEC §8). Only doctors are the doctor in charge
/// and start and end calls; an auditor reads what an inspector needs and changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Doctor,
    Reception,
    Auditor,
}

impl Role {
    /// Every value, for documents that list them (the OpenAPI enums).
    pub const ALL: [Self; 3] = [Self::Doctor, Self::Reception, Self::Auditor];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Doctor => "doctor",
            Self::Reception => "reception",
            Self::Auditor => "auditor",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// A person joining the clinic's staff. The handler chooses the id.
#[derive(Clone, Debug, PartialEq)]
pub struct NewStaff {
    pub staff_id: StaffId,
    pub name: StaffName,
    pub email: EmailAddress,
    pub role: Role,
}

/// Set up a clinic with its first administrator (`enkaku clinic create`).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateClinic {
    pub clinic_id: ClinicId,
    pub name: ClinicName,
    pub phone: Option<PhoneNumber>,
    pub time_zone: IanaTimeZone,
    pub first_admin: NewStaff,
}

/// Change the clinic's profile: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeClinicProfile {
    pub name: Option<ClinicName>,
    /// `Some(None)` removes the phone number.
    pub phone: Option<Option<PhoneNumber>>,
    pub time_zone: Option<IanaTimeZone>,
}

/// Change a staff member: only the fields given change.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeStaff {
    pub staff_id: StaffId,
    pub name: Option<StaffName>,
    pub role: Option<Role>,
    pub admin: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    CreateClinic(CreateClinic),
    ChangeClinicProfile(ChangeClinicProfile),
    InviteStaff { staff: NewStaff, admin: bool },
    ChangeStaff(ChangeStaff),
    DeactivateStaff { staff_id: StaffId },
    ReactivateStaff { staff_id: StaffId },
    SetTwoFactorRequired { required: bool },
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// One member of the clinic's staff. What they sign in with is not here: credentials live
/// outside the event log.
#[derive(Clone, Debug, PartialEq)]
pub struct StaffMember {
    pub id: StaffId,
    pub name: StaffName,
    pub email: EmailAddress,
    pub role: Role,
    pub admin: bool,
    /// A deactivated member cannot sign in; they stay on the roster and can be reactivated.
    pub active: bool,
}

impl StaffMember {
    pub fn is_active_admin(&self) -> bool {
        self.active && self.admin
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clinic {
    pub id: ClinicId,
    pub name: ClinicName,
    pub phone: Option<PhoneNumber>,
    pub time_zone: IanaTimeZone,
    pub two_factor_required: bool,
    /// Everyone ever invited, active or not, in the order they joined.
    pub staff: Vec<StaffMember>,
}

impl Clinic {
    /// The member `id`, if they are on this clinic's roster.
    pub fn member(&self, id: StaffId) -> Option<&StaffMember> {
        self.staff.iter().find(|m| m.id == id)
    }

    fn require_member(&self, id: StaffId) -> Result<&StaffMember, DomainError> {
        self.member(id).ok_or(DomainError::NotFound)
    }

    fn member_mut(&mut self, id: StaffId) -> Option<&mut StaffMember> {
        self.staff.iter_mut().find(|m| m.id == id)
    }

    /// Whether `member` is the one active administrator left, so that demoting or
    /// deactivating them would leave nobody to administer the clinic.
    fn is_last_active_admin(&self, member: &StaffMember) -> bool {
        member.is_active_admin()
            && !self
                .staff
                .iter()
                .any(|m| m.id != member.id && m.is_active_admin())
    }
}

/// The aggregate's state: nothing yet, or a clinic.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum State {
    #[default]
    Absent,
    Present(Clinic),
}

impl State {
    pub fn clinic(&self) -> Option<&Clinic> {
        match self {
            Self::Absent => None,
            Self::Present(c) => Some(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decide
// ---------------------------------------------------------------------------------------------

/// The rules: which events `command` causes in `state`, or which rule it breaks. An empty
/// list means "already so": a command that changes nothing records nothing.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    match (state, command) {
        (State::Absent, Command::CreateClinic(c)) => Ok(create_clinic(c)),
        (State::Present(_), Command::CreateClinic(_)) => Err(DomainError::AlreadyExists),
        (State::Absent, _) => Err(DomainError::NotFound),
        (State::Present(clinic), Command::ChangeClinicProfile(c)) => Ok(change_profile(clinic, c)),
        (State::Present(clinic), Command::InviteStaff { staff, admin }) => invite(clinic, staff, *admin),
        (State::Present(clinic), Command::ChangeStaff(c)) => change_staff(clinic, c),
        (State::Present(clinic), Command::DeactivateStaff { staff_id }) => deactivate(clinic, *staff_id),
        (State::Present(clinic), Command::ReactivateStaff { staff_id }) => {
            let member = clinic.require_member(*staff_id)?;
            Ok(if member.active {
                vec![]
            } else {
                vec![Event::StaffReactivated(StaffReactivated { staff_id: *staff_id })]
            })
        }
        (State::Present(clinic), Command::SetTwoFactorRequired { required }) => {
            Ok(if clinic.two_factor_required == *required {
                vec![]
            } else {
                vec![Event::TwoFactorRequirementChanged(TwoFactorRequirementChanged {
                    required: *required,
                })]
            })
        }
    }
}

/// The clinic and its first administrator, in one append: a clinic never exists without one.
fn create_clinic(c: &CreateClinic) -> Vec<Event> {
    vec![
        Event::ClinicCreated(ClinicCreated {
            clinic_id: c.clinic_id,
            name: c.name.clone(),
            phone: c.phone.clone(),
            time_zone: c.time_zone,
        }),
        invited(&c.first_admin, true),
    ]
}

fn invited(staff: &NewStaff, admin: bool) -> Event {
    Event::StaffInvited(StaffInvited {
        staff_id: staff.staff_id,
        name: staff.name.clone(),
        email: staff.email.clone(),
        role: staff.role,
        admin,
    })
}

fn change_profile(clinic: &Clinic, c: &ChangeClinicProfile) -> Vec<Event> {
    let changed = ClinicProfileChanged {
        name: c.name.clone().filter(|n| *n != clinic.name),
        phone: c.phone.clone().filter(|p| *p != clinic.phone),
        time_zone: c.time_zone.filter(|z| *z != clinic.time_zone),
    };
    if changed == ClinicProfileChanged::default() {
        return vec![];
    }
    vec![Event::ClinicProfileChanged(changed)]
}

/// One address per member: a deactivated member keeps theirs, since they may come back.
fn invite(clinic: &Clinic, staff: &NewStaff, admin: bool) -> Result<Vec<Event>, DomainError> {
    if clinic.member(staff.staff_id).is_some() {
        return Err(DomainError::AlreadyExists);
    }
    if clinic.staff.iter().any(|m| m.email.same_mailbox(&staff.email)) {
        return Err(DomainError::EmailTaken);
    }
    Ok(vec![invited(staff, admin)])
}

fn deactivate(clinic: &Clinic, staff_id: StaffId) -> Result<Vec<Event>, DomainError> {
    let member = clinic.require_member(staff_id)?;
    if !member.active {
        return Ok(vec![]);
    }
    if clinic.is_last_active_admin(member) {
        return Err(DomainError::LastAdmin);
    }
    Ok(vec![Event::StaffDeactivated(StaffDeactivated { staff_id })])
}

fn change_staff(clinic: &Clinic, c: &ChangeStaff) -> Result<Vec<Event>, DomainError> {
    let member = clinic.require_member(c.staff_id)?;
    let changed = StaffChanged {
        staff_id: c.staff_id,
        name: c.name.clone().filter(|n| *n != member.name),
        role: c.role.filter(|r| *r != member.role),
        admin: c.admin.filter(|a| *a != member.admin),
    };
    if changed.admin == Some(false) && clinic.is_last_active_admin(member) {
        return Err(DomainError::LastAdmin);
    }
    if changed.name.is_none() && changed.role.is_none() && changed.admin.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![Event::StaffChanged(changed)])
}

// ---------------------------------------------------------------------------------------------
// evolve
// ---------------------------------------------------------------------------------------------

/// Fold one event into the state. Events are facts: evolve never rejects one. Events of other
/// set-up streams change nothing here.
pub fn evolve(state: State, event: &Event) -> State {
    let mut clinic = match (state, event) {
        (_, Event::ClinicCreated(e)) => {
            return State::Present(Clinic {
                id: e.clinic_id,
                name: e.name.clone(),
                phone: e.phone.clone(),
                time_zone: e.time_zone,
                two_factor_required: false,
                staff: vec![],
            });
        }
        (State::Absent, _) => return State::Absent,
        (State::Present(clinic), _) => clinic,
    };
    match event {
        Event::ClinicProfileChanged(e) => {
            overwrite(&mut clinic.name, &e.name);
            overwrite(&mut clinic.phone, &e.phone);
            overwrite(&mut clinic.time_zone, &e.time_zone);
        }
        Event::StaffInvited(e) => clinic.staff.push(StaffMember {
            id: e.staff_id,
            name: e.name.clone(),
            email: e.email.clone(),
            role: e.role,
            admin: e.admin,
            active: true,
        }),
        Event::StaffChanged(e) => {
            if let Some(member) = clinic.member_mut(e.staff_id) {
                overwrite(&mut member.name, &e.name);
                overwrite(&mut member.role, &e.role);
                overwrite(&mut member.admin, &e.admin);
            }
        }
        Event::StaffDeactivated(e) => set_active(&mut clinic, e.staff_id, false),
        Event::StaffReactivated(e) => set_active(&mut clinic, e.staff_id, true),
        Event::TwoFactorRequirementChanged(e) => clinic.two_factor_required = e.required,
        _ => {}
    }
    State::Present(clinic)
}

fn set_active(clinic: &mut Clinic, id: StaffId, active: bool) {
    if let Some(member) = clinic.member_mut(id) {
        member.active = active;
    }
}

/// Replay a history into a state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
    events.into_iter().fold(State::Absent, evolve)
}
