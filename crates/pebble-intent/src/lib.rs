//! Pebble's local intent model (SPEC §4): pure code, no I/O and no network.
//!
//! * [`prepare`] keeps the part of an email its sender wrote now;
//! * [`features`] hashes word and character n-grams into a sparse vector;
//! * [`model`] trains a multinomial logistic regression by SGD with L2,
//!   calibrates it by temperature scaling on held-out data, explains a
//!   decision by its strongest phrases, and (de)serialises itself;
//! * [`eval`] measures precision/recall/F1, macro-F1, calibration error and
//!   the confusion matrix;
//! * [`corpus`] reads the labelled JSON-lines corpus and splits it
//!   deterministically;
//! * [`products`] finds catalog items and quantities in an email;
//! * [`classify`] puts it together: one email in, one decision out;
//! * [`drift`] compares recent decisions with the held-out baseline (PSI).

pub mod classify;
pub mod corpus;
pub mod drift;
pub mod eval;
pub mod features;
pub mod model;
pub mod prepare;
pub mod products;

use serde::{Deserialize, Serialize};

/// The eight intents of SPEC §4, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    ProductInquiry,
    PurchaseOrder,
    OrderFollowup,
    Payment,
    Complaint,
    VendorOffer,
    Spam,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 8] = [
        Intent::ProductInquiry,
        Intent::PurchaseOrder,
        Intent::OrderFollowup,
        Intent::Payment,
        Intent::Complaint,
        Intent::VendorOffer,
        Intent::Spam,
        Intent::Other,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::ProductInquiry => "product_inquiry",
            Intent::PurchaseOrder => "purchase_order",
            Intent::OrderFollowup => "order_followup",
            Intent::Payment => "payment",
            Intent::Complaint => "complaint",
            Intent::VendorOffer => "vendor_offer",
            Intent::Spam => "spam",
            Intent::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// A prospective or actual sale: the intents that create or advance a lead.
    pub fn is_lead(self) -> bool {
        matches!(self, Intent::ProductInquiry | Intent::PurchaseOrder)
    }

    pub fn parse(s: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
