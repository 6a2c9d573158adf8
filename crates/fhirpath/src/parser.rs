//! Precedence-climbing parser from tokens to [`Expr`]. Precedence follows the FHIRPath grammar,
//! lowest first: `implies`; `or xor`; `and`; `in contains`; `= ~ != !~`; `< > <= >=`; `|`;
//! `is as`; `+ - &`; `* / div mod`; unary `+ -`; then invocation and indexing.

use crate::ast::{BinOp, Expr, Func, Lit, TypeSpec};
use crate::dates::Dt;
use crate::decimal::Dec;
use crate::lexer::{lex, Tok};
use crate::quantity::{calendar_unit, Quantity};
use crate::Error;

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Current recursion depth of `expr`/`unary` (parentheses, arguments, unary signs).
    depth: usize,
}

/// Maximum height of the tree, so hostile input cannot overflow the stack of the parser or of
/// the evaluator (the R4 definitions stay far below it).
const MAX_HEIGHT: usize = 100;

/// A parsed subtree and its height.
type Parsed = Result<(Expr, usize), Error>;

/// Parses source text into an expression tree.
pub(crate) fn parse(src: &str) -> Result<Expr, Error> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        depth: 0,
    };
    let (e, _) = p.expr(0)?;
    match p.peek() {
        Tok::Eof => Ok(e),
        t => Err(Error::syntax(format!(
            "unexpected {} at {}",
            describe(t),
            p.toks[p.pos].1
        ))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s, _) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(s) => format!("number {s}"),
        Tok::DateTime(s) => format!("@{s}"),
        Tok::Special(s) => format!("${s}"),
        Tok::Constant(s) => format!("%{s}"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::Eof => "end of expression".into(),
    }
}

fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    use BinOp::*;
    Some(match t {
        Tok::Op(o) => match *o {
            "*" => (Mul, 10),
            "/" => (Div, 10),
            "+" => (Add, 9),
            "-" => (Sub, 9),
            "&" => (Concat, 9),
            "|" => (Union, 7),
            "<" => (Lt, 6),
            ">" => (Gt, 6),
            "<=" => (Le, 6),
            ">=" => (Ge, 6),
            "=" => (Eq, 5),
            "!=" => (Ne, 5),
            "~" => (Equiv, 5),
            "!~" => (NotEquiv, 5),
            _ => return None,
        },
        Tok::Ident(s, false) => match s.as_str() {
            "div" => (IntDiv, 10),
            "mod" => (Mod, 10),
            "in" => (In, 4),
            "contains" => (Contains, 4),
            "and" => (And, 3),
            "or" => (Or, 2),
            "xor" => (Xor, 2),
            "implies" => (Implies, 1),
            _ => return None,
        },
        _ => return None,
    })
}

const TYPE_BP: u8 = 8;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, op: &str) -> Result<(), Error> {
        match self.next() {
            Tok::Op(o) if o == op => Ok(()),
            t => Err(Error::syntax(format!(
                "expected '{op}', found {}",
                describe(&t)
            ))),
        }
    }

    /// Wraps a new node of height `h`, refusing trees deep enough to threaten the stack of the
    /// recursive evaluator.
    fn node(e: Expr, h: usize) -> Parsed {
        if h > MAX_HEIGHT {
            return Err(Error::syntax("expression nested too deeply"));
        }
        Ok((e, h))
    }

    fn expr(&mut self, min_bp: u8) -> Parsed {
        self.enter()?;
        let r = self.binary(min_bp);
        self.depth -= 1;
        r
    }

    fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_HEIGHT {
            return Err(Error::syntax("expression nested too deeply"));
        }
        self.depth += 1;
        Ok(())
    }

    fn binary(&mut self, min_bp: u8) -> Parsed {
        let (mut lhs, mut h) = self.unary()?;
        loop {
            let t = self.peek().clone();
            if let Tok::Ident(kw, false) = &t {
                if kw == "is" || kw == "as" {
                    if TYPE_BP < min_bp {
                        break;
                    }
                    self.next();
                    let spec = self.type_spec()?;
                    // The `as` operator filters like `ofType` (search parameters apply it to
                    // repeating elements); only the function form insists on one item.
                    let f = if kw == "is" { Func::Is } else { Func::OfType };
                    (lhs, h) = Parser::node(Expr::TypeCall(Some(Box::new(lhs)), f, spec), h + 1)?;
                    continue;
                }
            }
            let Some((op, bp)) = binop(&t) else { break };
            if bp < min_bp {
                break;
            }
            self.next();
            let (rhs, hr) = self.expr(bp + 1)?;
            (lhs, h) = Parser::node(
                Expr::Binary(op, Box::new(lhs), Box::new(rhs)),
                h.max(hr) + 1,
            )?;
        }
        Ok((lhs, h))
    }

    fn type_spec(&mut self) -> Result<TypeSpec, Error> {
        let first = match self.next() {
            Tok::Ident(s, _) => s,
            t => {
                return Err(Error::syntax(format!(
                    "expected a type, found {}",
                    describe(&t)
                )))
            }
        };
        if self.peek() == &Tok::Op(".") {
            if let Some((Tok::Ident(second, _), _)) = self.toks.get(self.pos + 1).cloned() {
                self.pos += 2;
                return Ok(TypeSpec {
                    namespace: Some(first),
                    name: second,
                });
            }
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn unary(&mut self) -> Parsed {
        self.enter()?;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Parsed {
        match self.peek() {
            Tok::Op(o @ ("+" | "-")) => {
                let neg = *o == "-";
                self.next();
                let (operand, h) = self.unary()?;
                match (neg, operand) {
                    (true, Expr::Lit(Lit::Int(i))) => Ok((Expr::Lit(Lit::Int(-i)), h)),
                    (true, Expr::Lit(Lit::Dec(d))) => Ok((Expr::Lit(Lit::Dec(d.neg())), h)),
                    (true, Expr::Lit(Lit::Quantity(q))) => Ok((
                        Expr::Lit(Lit::Quantity(Quantity::new(q.value.neg(), q.unit))),
                        h,
                    )),
                    (neg, e) => Parser::node(Expr::Unary(neg, Box::new(e)), h + 1),
                }
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Parsed {
        let (mut e, mut h) = self.term()?;
        loop {
            match self.peek() {
                Tok::Op(".") => {
                    self.next();
                    let name = match self.next() {
                        Tok::Ident(s, _) => s,
                        t => {
                            return Err(Error::syntax(format!(
                                "expected a name after '.', found {}",
                                describe(&t)
                            )))
                        }
                    };
                    (e, h) = self.member_or_call(Some((Box::new(e), h)), name)?;
                }
                Tok::Op("[") => {
                    self.next();
                    let (idx, hi) = self.expr(0)?;
                    self.expect("]")?;
                    (e, h) =
                        Parser::node(Expr::Indexer(Box::new(e), Box::new(idx)), h.max(hi) + 1)?;
                }
                _ => return Ok((e, h)),
            }
        }
    }

    fn member_or_call(&mut self, source: Option<(Box<Expr>, usize)>, name: String) -> Parsed {
        let (source, hs) = match source {
            Some((s, h)) => (Some(s), h),
            None => (None, 0),
        };
        if self.peek() != &Tok::Op("(") {
            return Parser::node(Expr::Member(source, name), hs + 1);
        }
        self.next();
        let mut args = Vec::new();
        let mut h = hs;
        if self.peek() != &Tok::Op(")") {
            loop {
                let (a, ha) = self.expr(0)?;
                h = h.max(ha);
                args.push(a);
                match self.next() {
                    Tok::Op(",") => continue,
                    Tok::Op(")") => break,
                    t => {
                        return Err(Error::syntax(format!(
                            "expected ',' or ')', found {}",
                            describe(&t)
                        )))
                    }
                }
            }
        } else {
            self.next();
        }
        let (func, min, max) = Func::lookup(&name)
            .ok_or_else(|| Error::semantic(format!("unknown function '{name}'")))?;
        if args.len() < min || args.len() > max {
            return Err(Error::semantic(format!(
                "wrong number of arguments for {name}(): {}",
                args.len()
            )));
        }
        if matches!(func, Func::Is | Func::As | Func::OfType) {
            let spec = type_of(&args[0])
                .ok_or_else(|| Error::syntax(format!("{name}() needs a type name")))?;
            return Parser::node(Expr::TypeCall(source, func, spec), hs + 1);
        }
        Parser::node(Expr::Call(source, func, args), h + 1)
    }

    fn term(&mut self) -> Parsed {
        let lit = |l: Lit| Ok((Expr::Lit(l), 1));
        match self.next() {
            Tok::Num(n) => {
                let value = if n.contains('.') {
                    Lit::Dec(Dec::parse(&n).ok_or_else(|| Error::syntax("bad number"))?)
                } else {
                    match n.parse::<i64>() {
                        Ok(i) => Lit::Int(i),
                        Err(_) => {
                            Lit::Dec(Dec::parse(&n).ok_or_else(|| Error::syntax("bad number"))?)
                        }
                    }
                };
                let unit = match self.peek() {
                    Tok::Str(u) => Some(u.clone()),
                    Tok::Ident(u, false) if calendar_unit(u).is_some() => Some(u.clone()),
                    _ => None,
                };
                match unit {
                    Some(u) => {
                        self.next();
                        let v = match value {
                            Lit::Int(i) => Dec::from_i64(i),
                            Lit::Dec(d) => d,
                            _ => return Err(Error::syntax("bad quantity")),
                        };
                        lit(Lit::Quantity(Quantity::new(v, u)))
                    }
                    None => lit(value),
                }
            }
            Tok::Str(s) => lit(Lit::Str(s.into())),
            Tok::DateTime(s) => match Dt::parse_literal(&s) {
                Some(d) => lit(Lit::Dt(d)),
                None => Err(Error::syntax(format!("invalid date/time literal @{s}"))),
            },
            Tok::Special(s) => match s.as_str() {
                "this" => Ok((Expr::This, 1)),
                "index" => Ok((Expr::Index, 1)),
                "total" => Ok((Expr::Total, 1)),
                _ => Err(Error::syntax(format!("unknown variable ${s}"))),
            },
            Tok::Constant(s) => Ok((Expr::Constant(s), 1)),
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Op("{") => {
                self.expect("}")?;
                lit(Lit::Empty)
            }
            Tok::Ident(s, delimited) => {
                if !delimited && (s == "true" || s == "false") {
                    return lit(Lit::Bool(s == "true"));
                }
                self.member_or_call(None, s)
            }
            t => Err(Error::syntax(format!("unexpected {}", describe(&t)))),
        }
    }
}

/// Reads a type specifier written as an expression (`ofType(FHIR.Patient)`).
fn type_of(e: &Expr) -> Option<TypeSpec> {
    match e {
        Expr::Member(None, name) => Some(TypeSpec {
            namespace: None,
            name: name.clone(),
        }),
        Expr::Member(Some(src), name) => match src.as_ref() {
            Expr::Member(None, ns) => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}
