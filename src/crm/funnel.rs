//! The lead funnel: new → contacted → qualified → quoted → won, or lost from
//! any open stage (with a reason). Won and lost are final.

use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    New,
    Contacted,
    Qualified,
    Quoted,
    Won,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::New,
        Stage::Contacted,
        Stage::Qualified,
        Stage::Quoted,
        Stage::Won,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::Qualified => "qualified",
            Stage::Quoted => "quoted",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    fn next(self) -> Option<Stage> {
        match self {
            Stage::New => Some(Stage::Contacted),
            Stage::Contacted => Some(Stage::Qualified),
            Stage::Qualified => Some(Stage::Quoted),
            Stage::Quoted => Some(Stage::Won),
            Stage::Won | Stage::Lost => None,
        }
    }

    /// One step forward, or to lost from any open stage.
    pub fn can_move_to(self, to: Stage) -> bool {
        self.next() == Some(to) || (to == Stage::Lost && self.next().is_some())
    }

    /// The allowed targets, for error messages.
    pub fn next_allowed(self) -> String {
        match self.next() {
            Some(n) => format!("{} or lost", n.as_str()),
            None => format!("nothing ({} is final)", self.as_str()),
        }
    }
}

impl FromStr for Stage {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_funnel_moves_one_step_forward_or_to_lost_and_stops_at_won_or_lost() {
        let allowed: Vec<(Stage, Stage)> = Stage::ALL
            .into_iter()
            .flat_map(|a| Stage::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        use Stage::*;
        assert_eq!(
            allowed,
            vec![
                (New, Contacted),
                (New, Lost),
                (Contacted, Qualified),
                (Contacted, Lost),
                (Qualified, Quoted),
                (Qualified, Lost),
                (Quoted, Won),
                (Quoted, Lost),
            ]
        );
        assert_eq!("quoted".parse::<Stage>(), Ok(Quoted));
        assert!("Won".parse::<Stage>().is_err());
    }
}
