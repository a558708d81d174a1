//! The API: object types, metadata, selectors and quantities.

pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod meta;
pub mod net;
pub mod objects;
pub mod probe;
pub mod qos;
pub mod quantity;
pub mod wire;

pub use apps::*;
pub use autoscaling::*;
pub use batch::*;
pub use meta::*;
pub use objects::*;
pub use probe::*;
pub use qos::{QosClass, pod_qos_class};
pub use wire::*;
