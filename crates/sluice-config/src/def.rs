//! One config key's definition (Kafka's `ConfigDef.ConfigKey`): its type, default and
//! validator, and the parsing of a raw string into a typed [`Value`] with Kafka's error texts.
//! It never knows which keys exist; the broker and topic tables do.

use crate::ConfigError;
use std::fmt;

/// Kafka's config types, with their DescribeConfigs `config_type` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

impl ConfigType {
    /// The DescribeConfigs `ConfigType` id.
    pub fn id(self) -> i8 {
        self as i8
    }

    /// Kafka's upper-case type name (as in "Not a number of type INT").
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// Kafka's validators (`Range`, `ValidString`, `ValidList`, ...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    None,
    /// `Range.atLeast(min)`
    AtLeast(i64),
    /// `Range.between(min, max)`
    Between(i64, i64),
    /// `Range.between(min, max)` on doubles
    BetweenF(f64, f64),
    /// `ValidString.in(...)`: exactly one of these (case-sensitive)
    OneOf(&'static [&'static str]),
    /// `ValidList.in(...)`: a comma-separated list whose every element is one of these
    ListOf(&'static [&'static str]),
    /// `-1` or `[min, max]` (e.g. `compression.gzip.level`)
    MinusOneOrBetween(i64, i64),
}

impl fmt::Display for Validator {
    /// Kafka's `toString` of the validator, used to name the accepted range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validator::None => f.write_str("any value"),
            Validator::AtLeast(min) => write!(f, "[{min},...]"),
            Validator::Between(min, max) => write!(f, "[{min},...,{max}]"),
            Validator::BetweenF(min, max) => {
                write!(f, "[{},...,{}]", java_double(*min), java_double(*max))
            }
            Validator::OneOf(v) | Validator::ListOf(v) => write!(f, "[{}]", v.join(", ")),
            Validator::MinusOneOrBetween(min, max) => write!(f, "[-1] or [{min},...,{max}]"),
        }
    }
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// INT, SHORT and LONG
    Int(i64),
    Double(f64),
    /// STRING, CLASS and PASSWORD
    Str(String),
    List(Vec<String>),
}

impl Value {
    /// The value as Kafka prints it (`ConfigDef.convertToString`); `None` for null.
    pub fn to_kafka_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(n) => Some(n.to_string()),
            Value::Double(d) => Some(java_double(*d)),
            Value::Str(s) => Some(s.clone()),
            Value::List(l) => Some(l.join(",")),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Formats a double as Java's `Double.toString` does ("0.5", "1.0", "1.7976931348623157E308").
pub fn java_double(d: f64) -> String {
    let abs = d.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-3..1e7).contains(&abs) {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if mantissa.contains('.') => format!("{mantissa}E{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}.0E{exp}"),
            None => s,
        }
    } else {
        format!("{d:?}")
    }
}

/// One config key: name, type, default (as Kafka prints it; `None` = null) and validator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    pub default: Option<&'static str>,
    pub validator: Validator,
    /// Broker keys only: reconfigurable at runtime in Kafka (DescribeConfigs `read_only` false).
    pub dynamic: bool,
}

impl ConfigDef {
    pub const fn new(
        name: &'static str,
        ty: ConfigType,
        default: Option<&'static str>,
        validator: Validator,
    ) -> Self {
        ConfigDef {
            name,
            ty,
            default,
            validator,
            dynamic: false,
        }
    }

    /// Marks the key as dynamically reconfigurable.
    pub const fn dynamic(mut self) -> Self {
        self.dynamic = true;
        self
    }

    /// PASSWORD values are never reported.
    pub fn sensitive(&self) -> bool {
        self.ty == ConfigType::Password
    }

    /// The default, parsed.
    pub fn default_value(&self) -> Result<Value, ConfigError> {
        match self.default {
            None => Ok(Value::Null),
            Some(d) => self.parse(d),
        }
    }

    /// Parses and validates a raw value, with Kafka's error messages.
    pub fn parse(&self, raw: &str) -> Result<Value, ConfigError> {
        let v = raw.trim();
        let err = |reason: String| ConfigError::invalid(self.name, v, reason);
        let not_number = || {
            let mut reason = format!("Not a number of type {}", self.ty.kafka_name());
            if self.validator != Validator::None {
                reason.push_str(&format!(" (accepted: {})", self.validator));
            }
            err(reason)
        };
        let value = match self.ty {
            ConfigType::Boolean => {
                if v.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if v.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else {
                    return Err(err("Expected value to be either true or false".into()));
                }
            }
            ConfigType::Int => Value::Int(v.parse::<i32>().map_err(|_| not_number())? as i64),
            ConfigType::Short => Value::Int(v.parse::<i16>().map_err(|_| not_number())? as i64),
            ConfigType::Long => Value::Int(v.parse::<i64>().map_err(|_| not_number())?),
            ConfigType::Double => {
                let d = v.parse::<f64>().map_err(|_| not_number())?;
                if !d.is_finite() {
                    return Err(not_number());
                }
                Value::Double(d)
            }
            ConfigType::String | ConfigType::Class => Value::Str(v.to_string()),
            ConfigType::Password => Value::Str(raw.to_string()),
            ConfigType::List => Value::List(if v.is_empty() {
                Vec::new()
            } else {
                v.split(',').map(|s| s.trim().to_string()).collect()
            }),
        };
        self.check(&value).map_err(err)?;
        Ok(value)
    }

    fn check(&self, value: &Value) -> Result<(), String> {
        match (self.validator, value) {
            (Validator::AtLeast(min), Value::Int(n)) if *n < min => {
                Err(format!("Value must be at least {min}"))
            }
            (Validator::Between(min, _), Value::Int(n)) if *n < min => {
                Err(format!("Value must be at least {min}"))
            }
            (Validator::Between(_, max), Value::Int(n)) if *n > max => {
                Err(format!("Value must be no more than {max}"))
            }
            (Validator::BetweenF(min, _), Value::Double(d)) if *d < min => {
                Err(format!("Value must be at least {}", java_double(min)))
            }
            (Validator::BetweenF(_, max), Value::Double(d)) if *d > max => {
                Err(format!("Value must be no more than {}", java_double(max)))
            }
            (Validator::MinusOneOrBetween(min, max), Value::Int(n))
                if *n != -1 && (*n < min || *n > max) =>
            {
                Err(format!("Value must be -1 or between {min} and {max}"))
            }
            (Validator::OneOf(valid), Value::Str(s)) if !valid.contains(&s.as_str()) => {
                Err(format!("String must be one of: {}", valid.join(", ")))
            }
            (Validator::ListOf(valid), Value::List(l))
                if l.iter().any(|e| !valid.contains(&e.as_str())) =>
            {
                Err(format!("String must be one of: {}", valid.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_matches_java() {
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.9), "0.9");
        assert_eq!(java_double(f64::MAX), "1.7976931348623157E308");
        assert_eq!(java_double(1e7), "1.0E7");
    }

    #[test]
    fn parse_types_and_ranges() {
        let d = ConfigDef::new("n", ConfigType::Int, Some("1"), Validator::AtLeast(1));
        assert_eq!(d.parse(" 7 ").unwrap(), Value::Int(7));
        assert_eq!(
            d.parse("0").unwrap_err().to_string(),
            "Invalid value 0 for configuration n: Value must be at least 1"
        );
        assert_eq!(
            d.parse("x").unwrap_err().to_string(),
            "Invalid value x for configuration n: Not a number of type INT (accepted: [1,...])"
        );
        assert!(d.parse("2147483648").is_err());
        let s = ConfigDef::new("s", ConfigType::Short, Some("3"), Validator::AtLeast(1));
        assert!(s.parse("40000").is_err());
        let b = ConfigDef::new("b", ConfigType::Boolean, Some("true"), Validator::None);
        assert_eq!(b.parse("FALSE").unwrap(), Value::Bool(false));
        assert!(b.parse("yes").is_err());
        let l = ConfigDef::new(
            "l",
            ConfigType::List,
            Some(""),
            Validator::ListOf(&["a", "b"]),
        );
        assert_eq!(l.parse(" a , b").unwrap().to_kafka_string().unwrap(), "a,b");
        assert_eq!(l.parse("").unwrap(), Value::List(vec![]));
        assert!(l.parse("a,c").is_err());
    }
}
